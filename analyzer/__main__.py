from analyzer.cli import main

# guarded: worker processes (backends/local.py) import the main module again, and must not run the command twice
if __name__ == "__main__":
    main()
