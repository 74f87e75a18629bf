from initjob.cli import main

raise SystemExit(main())
