"""``python -m tokencost``: the same command as the ``tokencost`` console script."""

from tokencost.cli import main

if __name__ == "__main__":
    main()
