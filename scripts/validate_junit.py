#!/usr/bin/env python3
"""Validate a JUnit XML report against the common JUnit XSD and read it back
with a standard consumer (junitparser).

Usage: validate_junit.py REPORT.xml [--xsd PATH]

Prints a JSON summary of what junitparser read (suites, properties, cases and
their results) so a test can compare it with what was written.

Exit codes: 0 valid and parsed, 1 invalid, 3 the Python packages are missing
(install scripts/test-requirements.txt).
"""

import argparse
import json
import pathlib
import sys

MISSING_TOOLS = 3


def main() -> int:
    here = pathlib.Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=pathlib.Path)
    parser.add_argument("--xsd", type=pathlib.Path, default=here.parent / "fixtures" / "junit" / "JUnit.xsd")
    args = parser.parse_args()

    try:
        import junitparser
        import xmlschema
    except ImportError as missing:
        print(f"missing Python package: {missing.name} (pip install -r scripts/test-requirements.txt)", file=sys.stderr)
        return MISSING_TOOLS

    schema = xmlschema.XMLSchema(str(args.xsd))
    errors = list(schema.iter_errors(str(args.report)))
    if errors:
        for error in errors[:20]:
            print(f"schema: {error.reason} at {error.path}", file=sys.stderr)
        print(f"{len(errors)} schema error(s) in {args.report}", file=sys.stderr)
        return 1

    xml = junitparser.JUnitXml.fromfile(str(args.report))
    suites = [xml] if isinstance(xml, junitparser.TestSuite) else list(xml)
    summary = {"suites": []}
    for suite in suites:
        cases = []
        for case in suite:
            results = list(case.result)
            if not results:
                outcome, message, kind, text = "passed", None, None, None
            else:
                first = results[0]
                outcome = type(first).__name__.lower()
                message, kind, text = first.message, first.type, first.text
            cases.append({
                "classname": case.classname,
                "name": case.name,
                "time": case.time,
                "outcome": outcome,
                "message": message,
                "type": kind,
                "text": text,
            })
        summary["suites"].append({
            "name": suite.name,
            "tests": suite.tests,
            "failures": suite.failures,
            "errors": suite.errors,
            "properties": {p.name: p.value for p in suite.properties()},
            "cases": cases,
        })
    json.dump(summary, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
