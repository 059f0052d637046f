from tagengine.console import main

main()
