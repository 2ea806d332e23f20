from edgeprof.cli.main import main

main()
