"""Example job modules used by the README quick start and conf/development.toml."""
