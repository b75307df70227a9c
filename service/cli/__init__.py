"""The `rmserve` command line: `service.cli.main` holds the command table, one module per subcommand."""
