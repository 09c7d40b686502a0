#!/usr/bin/env python3
"""Lists functions, initialisers and closures-as-properties over a line limit in
Sources/ (generated code and benchmarks excluded): `scripts/long-functions.py [LIMIT]`."""
import pathlib, re, sys

LIMIT = int(sys.argv[1]) if len(sys.argv) > 1 else 60
START = re.compile(r'^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|private|fileprivate|internal|static|final|override|mutating|nonisolated|package|@discardableResult)\s+)*(?:func\s+\S+|init[?!]?\s*[(<]|deinit\b|(?:var|let)\s+\w+\s*:[^=]*\{\s*$)')
found = 0
for path in sorted(pathlib.Path('Sources').rglob('*.swift')):
    if 'Generated' in path.parts or path.parts[1] == 'bct-bench':
        continue
    lines = path.read_text().split('\n')
    i = 0
    while i < len(lines):
        if START.match(lines[i]) and '{' in ''.join(lines[i:i + 16]):
            first = re.sub(r'"(?:\\.|[^"\\])*"', '""', lines[i].split('//')[0])
            if '{' in first and first.count('{') == first.count('}') and not first.rstrip().endswith('{'):
                i += 1
                continue
            depth, j, opened = 0, i, False
            # The body opens on the first line that ends with "{" (default closures in the signature do not).
            while j < len(lines) and not lines[j].split('//')[0].rstrip().endswith('{'):
                j += 1
            while j < len(lines):
                code = re.sub(r'"(?:\\.|[^"\\])*"', '""', lines[j].split('//')[0])
                depth += code.count('{') - code.count('}')
                opened = opened or '{' in code
                if opened and depth <= 0:
                    break
                j += 1
            length = j - i + 1
            if length > LIMIT:
                found += 1
                print(f'{path}:{i + 1}: {length} lines: {lines[i].strip()[:90]}')
            i += 1
        else:
            i += 1
sys.exit(1 if found else 0)
