"""The `launchpad` command line."""
