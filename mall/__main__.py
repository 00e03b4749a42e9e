from mall.cli import main

raise SystemExit(main())
