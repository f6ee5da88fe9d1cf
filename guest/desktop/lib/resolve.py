#!/usr/bin/env python3
"""Pick, fetch, verify and unpack the Debian riscv64 packages of the desktop image.

Called by guest/desktop/build.sh with a verified Packages file (its hash already checked against a
gpgv-verified Release). Dependencies are resolved on what the binaries really load, not on package
Depends: starting from the root packages (packages.txt), every ELF file's NEEDED sonames are looked up,
and a missing one is taken from the Depends of the package whose file needs it (matched by Debian's
soname-to-package naming, else by the package's file list). Depends that provide nothing any binary
loads (udev, keyboard-configuration, libgl1 → mesa → LLVM, man-db, menu, ...) are never fetched.
Why: xserver-xorg-core's Depends alone reach mesa's libgallium (LLVM), hundreds of MB that the
fbdev/modesetting path without glamor never loads.

Every .deb is checked against the SHA256 in Packages before it is unpacked with dpkg-deb -x (no
maintainer script ever runs). Output: a merged tree (usr-merged: /bin, /sbin, /lib are symlinks into
/usr), and a manifest (package version size reason) on stdout's last lines via --manifest.
"""
import argparse
import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

LIB_DIRS = ('usr/lib/riscv64-linux-gnu', 'usr/lib', 'lib/riscv64-linux-gnu', 'lib')
T0 = time.monotonic()


def say(msg):
    print(f'[{int(time.monotonic() - T0):4d}s] {msg}', file=sys.stderr, flush=True)


def die(msg):
    print(f'resolve.py: error: {msg}', file=sys.stderr)
    sys.exit(1)


def parse_packages(path):
    pkgs = {}
    with open(path, encoding='utf-8', errors='replace') as f:
        text = f.read()
    for block in text.split('\n\n'):
        d = {}
        key = None
        for line in block.split('\n'):
            if line[:1] in (' ', '\t'):
                if key:
                    d[key] += '\n' + line
                continue
            k, sep, v = line.partition(':')
            if sep:
                key = k
                d[k] = v.strip()
        name = d.get('Package')
        # Several versions of one name can be listed; keep the highest (dpkg's order is what matters,
        # but in one suite's index a name appears once per version and the last one is the newest).
        if name and ('Filename' in d) and (name not in pkgs or newer(d['Version'], pkgs[name]['Version'])):
            pkgs[name] = d
    return pkgs


def newer(a, b):
    return subprocess.run(['dpkg', '--compare-versions', a, 'gt', b]).returncode == 0


def dep_names(field):
    """Package names of a Depends line: each group's alternatives, first first."""
    groups = []
    for group in (field or '').split(','):
        alts = []
        for alt in group.split('|'):
            alt = alt.strip()
            if not alt:
                continue
            name = re.split(r'[\s(:\[]', alt, maxsplit=1)[0]
            alts.append(name)
        if alts:
            groups.append(alts)
    return groups


def soname_package(soname):
    """Debian policy 8.1: libfoo.so.3 -> libfoo3, libfoo2.so.0 -> libfoo2-0, lowercase."""
    m = re.match(r'^(.*?)\.so\.([0-9][0-9.]*)$', soname)
    if m:
        base, ver = m.group(1), m.group(2)
    else:
        m = re.match(r'^(.*?)-([0-9][0-9.]*)\.so$', soname)
        if not m:
            return None
        base, ver = m.group(1), m.group(2)
    base = base.lower().replace('_', '-')
    sep = '-' if base[-1:].isdigit() else ''
    return f'{base}{sep}{ver}'


class Resolver:
    def __init__(self, args):
        self.a = args
        self.pkgs = parse_packages(args.packages)
        self.chosen = {}  # name -> reason
        self.order = []
        self.provides = {}  # soname/basename -> package
        self.needs = {}  # package -> set of sonames its ELF files need
        self.downloaded = 0
        self.prune = [l.strip() for l in open(args.prune) if l.strip() and not l.startswith('#')]

    def deb_path(self, name):
        d = self.pkgs[name]
        return os.path.join(self.a.downloads, os.path.basename(d['Filename']))

    def fetch(self, name):
        d = self.pkgs.get(name)
        if not d:
            die(f'package {name} is not in the riscv64 index')
        path = self.deb_path(name)
        want = d['SHA256']
        if os.path.exists(path) and sha256(path) == want:
            return path
        url = self.a.mirror.rstrip('/') + '/' + d['Filename']
        tmp = path + '.part'
        say(f'  downloading {name} {d["Version"]} ({int(d["Size"]) // 1024} KiB)')
        try:
            with urllib.request.urlopen(url, timeout=120) as r, open(tmp, 'wb') as out:
                shutil.copyfileobj(r, out)
        except OSError as e:
            die(f'download of {url} failed: {e}')
        got = sha256(tmp)
        if got != want:
            os.unlink(tmp)
            die(f'{os.path.basename(path)}: SHA256 {got} does not match the Packages index ({want})')
        os.replace(tmp, path)
        self.downloaded += int(d['Size'])
        return path

    def files_of(self, name):
        """Basenames of everything a package ships under a library directory (without unpacking)."""
        out = subprocess.run(['dpkg-deb', '--fsys-tarfile', self.fetch(name)], capture_output=True, check=True)
        listing = subprocess.run(['tar', '-t'], input=out.stdout, capture_output=True, check=True).stdout
        names = set()
        for p in listing.decode().splitlines():
            p = p.lstrip('./')
            if os.path.dirname(p) in LIB_DIRS:
                names.add(os.path.basename(p))
        return names

    def unpack(self, name):
        dest = os.path.join(self.a.work, name)
        shutil.rmtree(dest, ignore_errors=True)
        subprocess.run(['dpkg-deb', '-x', self.fetch(name), dest], check=True)
        for root, dirs, files in os.walk(dest, topdown=True):
            rel_root = os.path.relpath(root, dest)
            for entry in list(dirs) + files:
                rel = os.path.normpath(os.path.join(rel_root, entry))
                if any(fnmatch.fnmatch(rel, pat) for pat in self.prune):
                    p = os.path.join(root, entry)
                    if entry in dirs and not os.path.islink(p):
                        shutil.rmtree(p)
                        dirs.remove(entry)
                    else:
                        os.unlink(p)
        return dest

    def scan(self, name, dest):
        elfs = []
        for root, _dirs, files in os.walk(dest):
            for f in files:
                p = os.path.join(root, f)
                rel = os.path.relpath(p, dest)
                d = os.path.dirname(rel)
                if d in LIB_DIRS or d.startswith('usr/lib/riscv64-linux-gnu'):
                    self.provides.setdefault(f, name)
                if not os.path.islink(p) and is_elf(p):
                    elfs.append(p)
            for f in _dirs:
                p = os.path.join(root, f)
                if os.path.islink(p):
                    self.provides.setdefault(f, name)
        need = set()
        for i in range(0, len(elfs), 200):
            out = subprocess.run([self.a.readelf, '-dW', *elfs[i:i + 200]], capture_output=True, text=True).stdout
            need.update(re.findall(r'\(NEEDED\)\s+Shared library: \[([^\]]+)\]', out))
        self.needs[name] = need

    def add(self, name, reason):
        if name in self.chosen:
            return
        if name not in self.pkgs:
            die(f'package {name} ({reason}) is not in the riscv64 index')
        self.chosen[name] = reason
        self.order.append(name)
        say(f'[{len(self.order):3d}] {name} {self.pkgs[name]["Version"]}  ({reason})')
        dest = self.unpack(name)
        self.scan(name, dest)

    def provider_for(self, soname, wanted_by):
        d = self.pkgs[wanted_by]
        groups = dep_names(d.get('Pre-Depends')) + dep_names(d.get('Depends'))
        cands = [n for g in groups for n in g if n in self.pkgs]
        want = soname_package(soname)
        for n in cands:
            base = n[:-3] if n.endswith('t64') else n
            if want and base == want:
                return n
        # Names that do not follow the rule (zlib1g, libssl3t64, libgcc-s1 for libgcc_s, ...): look in
        # the file lists of the Depends, then of everything already chosen's Depends.
        seen = set()
        for pool in (cands, [n for p in self.order for g in dep_names(self.pkgs[p].get('Depends')) for n in g]):
            for n in pool:
                if n in seen or n in self.chosen or n not in self.pkgs:
                    continue
                seen.add(n)
                if soname in self.files_of(n):
                    return n
        return None

    def resolve(self, roots):
        for r in roots:
            self.add(r, 'listed in packages.txt')
        changed = True
        while changed:
            changed = False
            for name in list(self.order):
                for soname in sorted(self.needs[name]):
                    if soname in self.provides:
                        continue
                    p = self.provider_for(soname, name)
                    if not p:
                        die(f'no package provides {soname} (needed by {name}); add it to packages.txt')
                    self.add(p, f'{soname} for {name}')
                    if soname not in self.provides:
                        die(f'{p} was chosen for {soname} but does not ship it')
                    changed = True

    def merge(self, root):
        """usr-merged tree: anything a package ships in /bin, /sbin or /lib* goes to /usr/..."""
        os.makedirs(os.path.join(root, 'usr'), exist_ok=True)
        for top in ('bin', 'sbin', 'lib'):
            os.makedirs(os.path.join(root, 'usr', top), exist_ok=True)
            link = os.path.join(root, top)
            if not os.path.lexists(link):
                os.symlink(f'usr/{top}', link)
        for name in self.order:
            src = os.path.join(self.a.work, name)
            for dirpath, dirs, files in os.walk(src):
                rel = os.path.relpath(dirpath, src)
                parts = [] if rel == '.' else rel.split(os.sep)
                if parts and parts[0] in ('bin', 'sbin', 'lib'):
                    parts = ['usr'] + parts
                out_dir = os.path.join(root, *parts)
                os.makedirs(out_dir, exist_ok=True)
                for entry in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
                    s = os.path.join(dirpath, entry)
                    t = os.path.join(out_dir, entry)
                    if os.path.lexists(t):
                        os.unlink(t)
                    if os.path.islink(s):
                        os.symlink(os.readlink(s), t)
                    else:
                        shutil.copy2(s, t)
                shutil.copystat(dirpath, out_dir)


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def is_elf(path):
    try:
        with open(path, 'rb') as f:
            return f.read(4) == b'\x7fELF'
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--packages', required=True, help='verified Packages file')
    ap.add_argument('--roots', required=True, help='packages.txt')
    ap.add_argument('--prune', required=True, help='prune.txt: globs removed from every package')
    ap.add_argument('--downloads', required=True)
    ap.add_argument('--work', required=True, help='per-package unpack directory')
    ap.add_argument('--root', required=True, help='merged tree')
    ap.add_argument('--manifest', required=True, help='file: package version size reason')
    ap.add_argument('--mirror', default='http://deb.debian.org/debian')
    ap.add_argument('--readelf', default='riscv64-linux-gnu-readelf')
    a = ap.parse_args()
    os.makedirs(a.downloads, exist_ok=True)
    os.makedirs(a.work, exist_ok=True)
    roots = [l.split('#')[0].strip() for l in open(a.roots)]
    r = Resolver(a)
    r.resolve([x for x in roots if x])
    say(f'merging {len(r.order)} packages')
    r.merge(a.root)
    total = 0
    with open(a.manifest, 'w') as m:
        for n in r.order:
            d = r.pkgs[n]
            total += int(d['Size'])
            m.write(f'{n} {d["Version"]} {d["Size"]} {r.chosen[n]}\n')
    say(f'{len(r.order)} packages, {total} bytes of .deb ({r.downloaded} downloaded now)')


if __name__ == '__main__':
    main()
