complete -c stackcount -s h -l help -d 'Print help'
complete -c stackcount -s V -l version -d 'Print version'
