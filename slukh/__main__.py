from slukh.cli import main

main()
