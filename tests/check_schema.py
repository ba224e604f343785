#!/usr/bin/python3
"""Validates results files against reports/results.schema.json.

usage: check_schema.py SCHEMA RESULTS.json [RESULTS.json ...]
"""
import json
import sys

import jsonschema


def main():
    schema = json.load(open(sys.argv[1]))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    bad = 0
    for path in sys.argv[2:]:
        errors = sorted(validator.iter_errors(json.load(open(path))), key=lambda e: list(e.absolute_path))
        for e in errors[:10]:
            where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
            print(f"{path}: at {where}: {e.message}")
        bad += bool(errors)
        if not errors:
            print(f"{path}: valid")
    # A document that must be rejected, so the check itself is known to bite.
    broken = {"schema": "dsa-bench-results", "schema_version": 2, "run_status": "complete"}
    if validator.is_valid(broken):
        print("the schema accepted a version-2 document without provenance")
        bad += 1
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
