from edgeprof.cli import main

main()
