complete -c funclatency -s h -l help -d 'Print help'
complete -c funclatency -s V -l version -d 'Print version'
