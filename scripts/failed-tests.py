#!/usr/bin/env python3
"""Prints the failed tests of the .trx files under a folder: name, message and the first stack lines.

scripts/test.sh calls it at the end of a failed run, so that the failures are at the end of the log
(CI shows the end of a long log first)."""
import glob
import os
import sys
import xml.etree.ElementTree as ET

NS = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}


def main(root: str) -> None:
    for trx in sorted(glob.glob(os.path.join(root, "**", "*.trx"), recursive=True)):
        try:
            tree = ET.parse(trx)
        except ET.ParseError as error:
            print(f"{trx}: unreadable ({error})")
            continue
        for result in tree.getroot().iterfind(".//t:UnitTestResult", NS):
            if result.get("outcome") != "Failed":
                continue
            message = result.findtext(".//t:Message", default="", namespaces=NS).strip()
            stack = result.findtext(".//t:StackTrace", default="", namespaces=NS).strip().splitlines()
            print(f"--- FAILED {result.get('testName')} ({os.path.basename(os.path.dirname(trx))}, {result.get('duration')})")
            print("\n".join(message.splitlines()[:15]))
            print("\n".join(stack[:6]))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "TestResults")
