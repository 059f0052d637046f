from tagengine.cli import main

main()
