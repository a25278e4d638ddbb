#!/usr/bin/env python3
"""Derive crates/server/src/generator/tgh.txt from Unihan's kTGH field.

The Table of General Standard Chinese Characters (通用规范汉字表, 2013) lists
8,105 characters in three levels: serial numbers 1-3500 are level 1, 3501-6500
level 2 and 6501-8105 level 3. Unihan records each character's serial number in
the kTGH field ("2013:NNNN"). This script reads it from Debian's unicode-data
package and writes the characters in serial order, 50 to a line, each line
prefixed by its level, so the build never needs the package.

    apt-get install unicode-data && python3 scripts/derive-tgh.py
"""
import bz2
import re
import sys

SOURCE = "/usr/share/unicode/Unihan_OtherMappings.txt.bz2"
OUT = "crates/server/src/generator/tgh.txt"


def level(serial: int) -> int:
    return 1 if serial <= 3500 else 2 if serial <= 6500 else 3


def main() -> int:
    version = "unknown"
    chars = {}
    with bz2.open(SOURCE, "rt", encoding="utf-8") as f:
        for line in f:
            m = re.match(r"# Unicode version: (\S+)", line)
            if m:
                version = m.group(1)
            if "\tkTGH\t" not in line:
                continue
            cp, _, value = line.rstrip("\n").split("\t")
            serial = int(value.split(":")[1])
            chars[serial] = chr(int(cp[2:], 16))
    if sorted(chars) != list(range(1, 8106)):
        print("kTGH serials are not exactly 1..8105", file=sys.stderr)
        return 1
    with open(OUT, "w", encoding="utf-8") as out:
        out.write(
            "# Table of General Standard Chinese Characters (通用规范汉字表, 2013),\n"
            f"# derived from the kTGH field of Unihan {version} (Unihan_OtherMappings.txt)\n"
            "# by scripts/derive-tgh.py. Unicode data files are used under the Unicode, Inc.\n"
            "# License Agreement for Data Files and Software (https://www.unicode.org/license.txt).\n"
            "# Characters are in serial order; each\n"
            "# line is LEVEL<TAB>CHARACTERS. Serials 1-3500: level 1, 3501-6500: level 2,\n"
            "# 6501-8105: level 3.\n"
        )
        serials = sorted(chars)
        for start in range(0, len(serials), 50):
            block = serials[start : start + 50]
            # A line never mixes levels: the boundaries (3500, 6500) are multiples of 50.
            out.write(f"{level(block[0])}\t{''.join(chars[s] for s in block)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
