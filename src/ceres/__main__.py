from ceres.cli import main

main()
