"""Shared pytest wiring: fixtures live in tests/plugins so each lane owns its own module."""

pytest_plugins = [
    "tests.plugins.lanes",
    "tests.plugins.s3",
    "tests.plugins.sinks",
    "tests.plugins.seaweedfs",
    "tests.plugins.prefect_api",
    "tests.plugins.server",
    "tests.plugins.sim",
    "tests.plugins.deployment",
]
