"""`python -m americano_pipelines.cli`: the `americano` command."""

from americano_pipelines.cli.app import main

main()
