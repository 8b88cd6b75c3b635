from crosswatch.cli import main

raise SystemExit(main())
