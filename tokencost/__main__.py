"""``python -m tokencost``: the same command as the ``tokencost`` console script.

The signal handlers (Ctrl-C: exit 130, SIGTERM: exit 143, one line each) come from
``_tokencost_entry``; here they are installed only after ``import tokencost``, which ``-m`` runs first.
"""

from _tokencost_entry import main

if __name__ == "__main__":
    main()
