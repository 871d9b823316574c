from qwsup.cli.commands import main

raise SystemExit(main())
