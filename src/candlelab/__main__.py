from candlelab.cli.main import main

main()
