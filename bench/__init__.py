"""`make bench`: one command, one run, every comparison side by side on the same machine."""
