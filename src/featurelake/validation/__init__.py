"""The validation gate: Great Expectations suites built from the specs, run before publishing."""
