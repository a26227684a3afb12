complete -c trace -s h -l help -d 'Print help (see more with \'--help\')'
complete -c trace -s V -l version -d 'Print version'
