"""The fuzz targets' counts are summed and printed by the root conftest (tests/conftest.py), which
the pytest-xdist controller loads too."""
