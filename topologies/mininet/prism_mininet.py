#!/usr/bin/python3
"""prism on Mininet: one client, N backends (default 3), one P4 switch, the controller and agents.

    sudo python3 topologies/mininet/prism_mininet.py            # Mininet CLI
    sudo python3 topologies/mininet/prism_mininet.py --test     # curl through the VIP, exit 0/1
    sudo python3 topologies/mininet/prism_mininet.py --bmv2     # simple_switch_grpc if on PATH

The P4 switch is a Switch subclass of our own (no Open vSwitch, no OpenFlow controller). Its
start() runs either BMv2 (simple_switch_grpc with the p4c-compiled v1model program) or the
embedded target (`prism switch`, the generated eBPF program at tc ingress of the switch
interfaces). Both serve P4Runtime on a unix socket, which every Mininet host can reach: files are
shared across network namespaces, TCP on 127.0.0.1 is not.

    client 10.0.0.1 (port 1) ---+
    b1     10.0.0.11 (port 11) -+-- s1 (P4 switch, root namespace) -- P4Runtime unix:/run/prism/mininet/p4rt.sock
    b2     10.0.0.12 (port 12) -+                                          ^
    b3     10.0.0.13 (port 13) -+        ctl (own host, loopback only): prism controller
                                         agents on b1..bN: unix:/run/prism/mininet/<name>.sock

See docs/mininet.md. Needs root and Debian's mininet package (apt-get install mininet).
"""

import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time

try:
    from mininet.net import Mininet
    from mininet.node import Switch, Host
    from mininet.link import Link
    from mininet.topo import Topo
    from mininet.log import setLogLevel, info, warn
    from mininet.cli import CLI
except ImportError:  # pragma: no cover - reported to the user
    sys.stderr.write('prism_mininet: the mininet Python package is missing (apt-get install mininet; '
                     'run with /usr/bin/python3, Debian\'s interpreter)\n')
    sys.exit(2)

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
RUN_DIR = '/run/prism/mininet'
P4RT_SOCK = os.path.join(RUN_DIR, 'p4rt.sock')
CPU_PORT = 64
VIP = {'ip': '10.0.0.100', 'port': 80, 'mac': '02:00:00:00:00:fe'}
CLIENT_PORT = 1
BACKEND_PORT_BASE = 11  # b1 on port 11 (10.0.0.11), b2 on 12, ...
PREFIX_LEN = 24
TEST_SIZE = 1048576


def host_mac(port):
    return '02:00:00:00:01:%02x' % port


def switch_port_mac(port):
    return '02:00:00:00:ff:%02x' % port


class Spec(object):
    """One host on the switch: name, IP, P4 port, MACs of its interface and of the switch port."""

    def __init__(self, name, ip, port, role):
        self.name, self.ip, self.port, self.role = name, ip, port, role
        self.mac = host_mac(port)
        self.switch_mac = switch_port_mac(port)


def host_specs(n_backends):
    specs = [Spec('client', '10.0.0.1', CLIENT_PORT, 'client')]
    for i in range(1, n_backends + 1):
        specs.append(Spec('b%d' % i, '10.0.0.%d' % (BACKEND_PORT_BASE + i - 1), BACKEND_PORT_BASE + i - 1, 'backend'))
    return specs


class PrismTopo(Topo):
    """A star around s1. The P4 port of each host is its switch interface number (s1-eth<port>)."""

    def build(self, specs=(), controller_host=True):  # pylint: disable=arguments-differ
        s1 = self.addSwitch('s1', dpid='1')
        for s in specs:
            h = self.addHost(s.name, ip='%s/%d' % (s.ip, PREFIX_LEN), mac=s.mac)
            self.addLink(h, s1, port2=s.port, addr1=s.mac, addr2=s.switch_mac)
        if controller_host:
            # The controller's own host: no data-plane link, only loopback (its admin API on
            # 127.0.0.1:8080 there); it reaches the switch and the agents over unix sockets.
            self.addHost('ctl', cls=ControllerHost, ip=None)


class ControllerHost(Host):
    """A host with no data-plane interface (ctl): nothing to configure, and no warning about it."""

    def defaultIntf(self):
        return self.intfs[min(self.intfs)] if self.intfs else None


class P4Switch(Switch):
    """A P4 switch for Mininet: BMv2 (simple_switch_grpc) or prism's embedded eBPF target.

    Both run in the root namespace, where Mininet leaves switch interfaces, and serve P4Runtime
    on `grpc_addr`. The pipeline arrives later from the controller (SetForwardingPipelineConfig),
    so neither is started with a program (`--no-p4` for BMv2).
    """

    def __init__(self, name, target='embedded', node='node', grpc_addr='unix:' + P4RT_SOCK, cpu_port=CPU_PORT,
                 log_file=None, external=False, **params):
        Switch.__init__(self, name, **params)
        self.target = target
        # external: someone else runs the switch (docker-compose's bmv2 service, which shares this
        # network namespace): start() writes its arguments to switch.args and waits for P4Runtime.
        self.external = external
        self.node_bin = node
        self.grpc_addr = grpc_addr
        self.cpu_port = cpu_port
        self.log_file = log_file or os.path.join(RUN_DIR, 'logs', '%s.log' % name)
        self.proc = None

    def port_specs(self):
        return ['%d@%s' % (port, intf.name) for port, intf in sorted(self.intfs.items()) if intf.name != 'lo']

    def command(self):
        ifaces = self.port_specs()
        if self.target == 'bmv2':
            args = ['simple_switch_grpc', '--no-p4', '--device-id', '1']
            for i in ifaces:
                args += ['-i', i]
            return args + ['--', '--grpc-server-addr', self.grpc_addr, '--cpu-port', str(self.cpu_port)]
        args = [self.node_bin, os.path.join(REPO, 'bin', 'prism.js'), 'switch']
        for i in ifaces:
            args += ['-i', i]
        return args + ['--grpc-addr', self.grpc_addr, '--cpu-port', str(self.cpu_port), '--device-id', '1']

    def start(self, controllers):
        for intf in self.intfList():
            if intf.name == 'lo':
                continue
            # The switch interfaces carry no host traffic of the root namespace: no IPv6 chatter.
            self.cmd('sysctl -qw net.ipv6.conf.%s.disable_ipv6=1' % intf.name)
            self.cmd('ip link set %s up' % intf.name)
        sock = self.grpc_addr[len('unix:'):] if self.grpc_addr.startswith('unix:') else None
        if sock and os.path.exists(sock):
            os.unlink(sock)
        cmd = self.command()
        if self.external:
            args_file = os.path.join(RUN_DIR, 'switch.args')
            with open(args_file + '.tmp', 'w') as f:
                f.write(' '.join(cmd[1:]) + '\n')
            os.rename(args_file + '.tmp', args_file)
            info('*** %s: waiting for an external %s (arguments in %s)\n' % (self.name, cmd[0], args_file))
            wait_for(lambda: sock is None or os.path.exists(sock), 180, 'the external switch to serve P4Runtime on %s' % sock)
            return
        info('*** %s: %s\n' % (self.name, ' '.join(cmd)))
        log = open(self.log_file, 'ab')
        # Its own process group: stop() ends the switch and anything it started, nothing else.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('%s (%s) exited with %s; see %s:\n%s' % (self.name, self.target, self.proc.returncode,
                                                                          self.log_file, tail(self.log_file)))
            if sock is None or os.path.exists(sock):
                return
            failed = startup_error(self.log_file)
            if failed:
                raise RuntimeError('%s (%s) failed to start: %s' % (self.name, self.target, failed))
            time.sleep(0.1)
        raise RuntimeError('%s: P4Runtime socket %s did not appear within 30 s; see %s:\n%s' % (self.name, sock, self.log_file,
                                                                                                tail(self.log_file)))

    def stop_switch(self):
        """Ends the switch process. Called before net.stop(), which deletes the links before it stops
        switches: the switch should not run on interfaces that vanish under it."""
        stop_process(self.proc)
        self.proc = None

    def stop(self, deleteIntfs=True):
        self.stop_switch()
        Switch.stop(self, deleteIntfs)


class Terminated(Exception):
    """SIGTERM arrived."""


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL after `timeout` seconds, to one process we started and its group.

    Every process started here leads its own process group: Popen(start_new_session=True), or a
    Mininet host's popen(), whose `mnexec -d` calls setsid(). So the group is the process and what
    it started (p4c's driver and its back end, for example), and nothing of anyone else's.
    """
    if proc is None or proc.poll() is not None:
        return
    own_group = _leads_group(proc.pid)
    def signal_it(sig):
        try:
            if own_group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except ProcessLookupError:
            pass
    signal_it(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        signal_it(signal.SIGKILL)
        proc.wait(5)
    if own_group:
        # The leader is gone; whatever it left in its group goes too, and is reaped (by init, for
        # orphans) before we go on: a bounded wait until the group is empty.
        deadline = time.time() + 2
        while time.time() < deadline:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                break
            time.sleep(0.02)


def _leads_group(pid):
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def start_checked(cmd, procs, name, log_file):
    """Starts a command that must succeed, in its own process group, stoppable by the cleanup
    (`procs`). Returns finish(): waits for it, raises if it failed, warns with what it printed."""
    with open(log_file, 'ab') as log:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    procs.append((name, p, log_file))

    def finish():
        code = p.wait()
        if code != 0:
            raise RuntimeError('%s exited with %d:\n%s' % (' '.join(cmd), code, tail(log_file)))
        printed = tail(log_file, 40).strip()
        if printed:
            warn('*** %s printed:\n%s\n' % (name, printed))
    return finish


def startup_error(log_file):
    """The error line `prism <command>` printed, if it failed: `prism: <message> [<code>]`.

    A prism daemon that fails after it opened a gRPC channel prints this and may stay alive (the
    channel holds the event loop), so waiting for it to exit is not enough.
    """
    for line in tail(log_file, 50).splitlines():
        if line.startswith('prism: '):
            return line
    return None


def port_open(host, port):
    import socket
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def tail(path, lines=30):
    try:
        with open(path, 'rb') as f:
            return '\n'.join(f.read().decode('utf-8', 'replace').splitlines()[-lines:])
    except OSError:
        return '(no log)'


def yaml_str(v):
    return json.dumps(v)  # JSON strings and numbers are valid YAML scalars


def controller_config(specs, args, token_file, admin_token_file):
    """The `prism controller` configuration (stack/controller-config.ts), as YAML."""
    sw = ['switch:', '  address: %s' % yaml_str('unix:' + P4RT_SOCK), '  deviceId: 1',
          '  target: %s' % args.switch_target]
    if args.switch_target == 'bmv2':
        sw.append('  deviceConfig: %s' % yaml_str(args.bmv2_json))
        sw.append('  p4info: %s' % yaml_str(args.p4info))
    lines = ['# Written by topologies/mininet/prism_mininet.py for one run.'] + sw
    lines += ['vips:', '  - { ip: %s, port: %d, mac: %s }' % (yaml_str(VIP['ip']), VIP['port'], yaml_str(VIP['mac']))]
    lines.append('routes:')
    for s in specs:
        lines.append('  - { prefix: %s, port: %d, srcMac: %s, dstMac: %s }' % (
            yaml_str('%s/32' % s.ip), s.port, yaml_str(s.switch_mac), yaml_str(s.mac)))
    lines.append('backends:')
    for s in specs:
        if s.role == 'backend':
            lines.append('  - { name: %s, ip: %s, mac: %s, port: %d, agent: %s }' % (
                yaml_str(s.name), yaml_str(s.ip), yaml_str(s.mac), s.port,
                yaml_str('unix:%s' % os.path.join(RUN_DIR, '%s.sock' % s.name))))
    lines.append('agentTokenFile: %s' % yaml_str(token_file))
    lines.append('policy: { name: %s }' % yaml_str(args.policy))
    lines.append('admin: { host: %s, port: %d, tokenFile: %s }' % (yaml_str(args.admin_host), args.admin_port,
                                                                    yaml_str(admin_token_file)))
    return '\n'.join(lines) + '\n'


def wait_for(cond, seconds, what, proc=None, log_file=None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError('%s exited with %s while waiting for %s:\n%s' % (what, proc.returncode, what,
                                                                               tail(log_file) if log_file else ''))
        failed = startup_error(log_file) if log_file else None
        if failed:
            raise RuntimeError('%s failed to start: %s' % (what, failed))
        time.sleep(0.1)
    raise RuntimeError('timed out after %d s waiting for %s%s' % (seconds, what,
                                                                  (':\n' + tail(log_file)) if log_file else ''))


def choose_target(args, procs):
    """Decides embedded or bmv2; for bmv2 starts compiling the v1model program with p4c unless given.

    Returns a function that waits for the compile (a no-op when there is none): simple_switch_grpc
    starts without a program, so only the controller needs p4c's output, and the compile runs while
    Mininet, the switch and the agents start. p4c runs as one of `procs`, so that SIGTERM during the
    compile stops it (the driver and its back end) with the rest.
    """
    args.switch_target = 'embedded'
    if not args.bmv2:
        return lambda: None
    why = None
    if args.external_switch:
        if not args.bmv2_json:
            raise SystemExit('prism_mininet: --external-switch with --bmv2 needs --bmv2-json (and --p4info)')
    elif shutil.which('simple_switch_grpc') is None:
        why = 'simple_switch_grpc is not on PATH'
    elif not args.bmv2_json and shutil.which('p4c') is None:
        why = 'p4c is not on PATH and no --bmv2-json was given'
    if why:
        if args.require_bmv2:
            sys.stderr.write('prism_mininet: --bmv2 asked but %s (see docs/mininet.md)\n' % why)
            raise SystemExit(2)
        warn('*** --bmv2 asked but %s: using the embedded target\n' % why)
        return lambda: None
    args.switch_target = 'bmv2'
    compiled = lambda: None  # noqa: E731
    if not args.bmv2_json:  # (not with --external-switch, checked above)
        out = os.path.join(RUN_DIR, 'p4c')
        os.makedirs(out, exist_ok=True)
        cmd = ['p4c', '--target', 'bmv2', '--arch', 'v1model', '-DCPU_PORT=%d' % CPU_PORT, '-o', out,
               '--p4runtime-files', os.path.join(out, 'prism.p4info.bin'), os.path.join(REPO, 'p4', 'v1model', 'prism.p4')]
        info('*** compiling: %s\n' % ' '.join(cmd))
        compiled = start_checked(cmd, procs, 'p4c', os.path.join(RUN_DIR, 'logs', 'p4c.log'))
        args.bmv2_json = os.path.join(out, 'prism.json')
        args.p4info = args.p4info or os.path.join(out, 'prism.p4info.bin')
    args.p4info = args.p4info or os.path.join(REPO, 'p4', 'p4info', 'prism.p4info.bin')
    return compiled


def our_link_names(n_backends):
    """The interfaces a run creates in the root namespace: the switch ports and the embedded CPU port."""
    return ['s1-eth%d' % CLIENT_PORT] + ['s1-eth%d' % (BACKEND_PORT_BASE + i) for i in range(n_backends)] + ['cpu0', 'cpu1']


def check_leftovers(n_backends):
    """Refuse to start over a crashed run's interfaces rather than deleting what may be someone else's."""
    present = [n for n in our_link_names(n_backends) if os.path.exists('/sys/class/net/%s' % n)]
    if present:
        raise SystemExit('prism_mininet: interfaces %s already exist in the root namespace (another run, or a '
                         'crashed one: remove them with `ip link del <name>`)' % ', '.join(present))


def run_test(net, specs, requests):
    """curl GET /bytes/1048576 through the VIP from the client, sha256 against X-Content-SHA256."""
    client = net.get('client')
    ok = True
    seen = {}
    results = []
    for i in range(requests):
        hdr = '/tmp/prism-mininet-%d-%d.hdr' % (os.getpid(), i)
        body = '/tmp/prism-mininet-%d-%d.body' % (os.getpid(), i)
        url = 'http://%s:%d/bytes/%d' % (VIP['ip'], VIP['port'], TEST_SIZE)
        out = client.cmd('curl -sS --fail --max-time 30 -w "curl-time=%%{time_total}\\n" -D %s -o %s %s; echo "curl-exit=$?"'
                         % (hdr, body, url))
        m = re.search(r'curl-exit=(\d+)', out)
        code = int(m.group(1)) if m else -1
        m = re.search(r'curl-time=([\d.]+)', out)
        seconds = float(m.group(1)) if m else None
        out = re.sub(r'curl-time=[\d.]*\s*', '', out)
        headers, digest = {}, None
        try:
            with open(hdr, 'r', errors='replace') as f:
                for line in f:
                    if ':' in line:
                        k, v = line.split(':', 1)
                        headers[k.strip().lower()] = v.strip()
            with open(body, 'rb') as f:
                data = f.read()
            digest = hashlib.sha256(data).hexdigest()
            size = len(data)
        except OSError:
            size = 0
        finally:
            for p in (hdr, body):
                if os.path.exists(p):
                    os.unlink(p)
        want = headers.get('x-content-sha256')
        backend = headers.get('x-backend')
        good = code == 0 and size == TEST_SIZE and want is not None and digest == want
        ok = ok and good
        if backend:
            seen[backend] = seen.get(backend, 0) + 1
        results.append({'request': i + 1, 'curlExit': code, 'bytes': size, 'sha256': digest, 'expected': want,
                        'backend': backend, 'seconds': seconds, 'ok': good})
        if good:
            verdict = 'matches X-Content-SHA256'
        elif code == 0:
            verdict = 'MISMATCH (got %s, header %s)' % (digest, want)
        else:
            verdict = 'n/a (%s)' % (out.strip().splitlines()[0] if out.strip() else 'no output')
        print('prism_mininet: GET %s -> curl %d, %d bytes in %s s, backend %s, sha256 %s' % (
            url, code, size, '%.3f' % seconds if seconds is not None else '?', backend, verdict))
    summary = {'ok': ok, 'target': None, 'requests': results, 'backends': seen}
    return ok, summary


def settle_shells(net, seconds=5):
    """Ends a command a node's shell is still running (SIGTERM came during node.cmd()).

    Mininet's cmd() refuses to run while the shell waits for the previous command, and net.stop()
    deletes interfaces with cmd(): one interrupted `client curl ...` would leave every link after
    it. The command's processes (the shell's children) are killed — Ctrl-C through the shell's
    terminal does not reliably reach them — and the shell's prompt is read.
    """
    waiting = [n for n in net.hosts + net.switches if n.shell and n.waiting]
    for n in waiting:
        for pid in child_pids(n.shell.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.time() + seconds
    for n in waiting:
        while n.waiting and time.time() < deadline:
            n.monitor(timeoutms=100)
        n.waiting = False  # a shell that did not answer: cmd() must still be allowed


def child_pids(pid):
    """The children of a process (/proc/<pid>/task/*/children)."""
    kids = []
    try:
        for task in os.listdir('/proc/%d/task' % pid):
            with open('/proc/%d/task/%s/children' % (pid, task)) as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids


def cleanup(net, procs, show_logs, keep_logs, n_backends):
    """Stops what this run started and removes its files; each step runs even if one before failed."""
    def step(what, fn):
        try:
            fn()
        except Exception as err:  # pylint: disable=broad-except
            sys.stderr.write('prism_mininet: cleanup: %s: %s\n' % (what, str(err) or type(err).__name__))
    for name, p, log_file in reversed(procs):
        step('stopping %s' % name, lambda p=p: stop_process(p))
        if show_logs:
            sys.stderr.write('--- %s (%s) ---\n%s\n' % (name, log_file, tail(log_file, 15)))
    if net is not None:
        for sw in net.switches:
            step('stopping %s' % sw.name, sw.stop_switch)
            if show_logs:
                sys.stderr.write('--- %s (%s) ---\n%s\n' % (sw.name, sw.log_file, tail(sw.log_file, 15)))
        step('settling the host shells', lambda: settle_shells(net))
        step('net.stop()', net.stop)  # links, then the switch nodes, then the host shells
    # What net.stop() could not delete (check_leftovers saw none of these names at the start, so
    # any present now is ours): a veth pair goes with either end.
    def delete_links():
        for name in our_link_names(n_backends):
            if os.path.exists('/sys/class/net/%s' % name):
                sys.stderr.write('prism_mininet: cleanup: deleting %s, which net.stop() left\n' % name)
                subprocess.call(['ip', 'link', 'del', name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    step('deleting leftover links', delete_links)
    def remove_run_dir():
        for f in os.listdir(RUN_DIR) if os.path.isdir(RUN_DIR) else []:
            p = os.path.join(RUN_DIR, f)
            if f == 'logs' and keep_logs:
                continue
            if os.path.isdir(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)
        if not keep_logs and os.path.isdir(RUN_DIR) and not os.listdir(RUN_DIR):
            os.rmdir(RUN_DIR)
    step('removing %s' % RUN_DIR, remove_run_dir)


def handoff_entries(net, args, ctl_in_root, admin_token_file):
    """The handoff_in / handoff_out entries on the switch, read through the controller's admin API."""
    with open(admin_token_file) as f:
        token = f.read().strip()
    host = '127.0.0.1' if args.admin_host in ('0.0.0.0', '') else args.admin_host
    url = 'http://%s:%d/tables' % (host, args.admin_port)
    curl = 'curl -sS --fail --max-time 10 -H "Authorization: Bearer %s" %s' % (token, url)
    if ctl_in_root:
        out = subprocess.run(curl, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=15).stdout.decode()
    else:
        out = net.get('ctl').cmd(curl)
    try:
        entries = json.loads(out)
    except ValueError:
        raise RuntimeError('GET %s did not answer with JSON: %s' % (url, out.strip()[:300]))
    return [e for e in entries if e.get('table') in ('handoff_in', 'handoff_out')]


def main():
    ap = argparse.ArgumentParser(description='prism on Mininet: client, backends, a P4 switch (BMv2 or embedded eBPF), '
                                             'the controller and agents. Run as root.')
    ap.add_argument('--backends', type=int, default=3, help='number of backends (default 3, at most 50)')
    ap.add_argument('--test', action='store_true', help='fetch /bytes/1048576 through the VIP with curl, check the '
                                                        'sha256, print the result and exit 0 (pass) or 1 (fail)')
    ap.add_argument('--requests', type=int, default=0, help='requests in --test (default: one per backend)')
    ap.add_argument('--bmv2', action='store_true', help='use BMv2 (simple_switch_grpc) when on PATH, else the embedded target')
    ap.add_argument('--require-bmv2', action='store_true', help='with --bmv2: fail (exit 2) rather than fall back')
    ap.add_argument('--bmv2-json', help='p4c output for BMv2 (default: compile p4/v1model/prism.p4 with p4c)')
    ap.add_argument('--p4info', help='P4Info for BMv2 (default: p4c\'s, or p4/p4info/prism.p4info.bin with --bmv2-json)')
    ap.add_argument('--node', default=shutil.which('node') or 'node', help='the Node.js 20 binary (default: node on PATH)')
    ap.add_argument('--policy', default='round-robin', help='built-in policy (default round-robin)')
    ap.add_argument('--controller-in-root', action='store_true',
                    help='run the controller in the root namespace (admin API reachable from this machine) '
                         'instead of on its own host ctl')
    ap.add_argument('--admin-host', default='127.0.0.1', help='admin API address (default 127.0.0.1)')
    ap.add_argument('--admin-port', type=int, default=8080, help='admin API port (default 8080)')
    ap.add_argument('--external-switch', action='store_true',
                    help='do not start the switch: write its arguments to %s/switch.args and wait for its P4Runtime '
                         'socket (docker-compose.yml runs BMv2 in its own container this way)' % RUN_DIR)
    ap.add_argument('--external-controller', action='store_true',
                    help='do not start the controller: write %s/controller.yaml and wait for its admin API on '
                         '--admin-host:--admin-port in this namespace (docker-compose.yml)' % RUN_DIR)
    ap.add_argument('--cli', action='store_true', help='open the Mininet CLI (the default without --test)')
    ap.add_argument('--keep-logs', action='store_true', help='keep %s/logs after exit' % RUN_DIR)
    ap.add_argument('--verbose', action='store_true', help='Mininet log level info (default: warnings)')
    args = ap.parse_args()
    if not 1 <= args.backends <= 50:
        ap.error('--backends must be in 1..50')
    if os.geteuid() != 0:
        sys.stderr.write('prism_mininet: run as root (Mininet needs network namespaces and veth pairs)\n')
        return 2
    setLogLevel('info' if args.verbose or not args.test else 'warning')
    for f in (os.path.join(REPO, 'dist', 'cli', 'main.js'), os.path.join(REPO, 'build', 'ebpf', 'prism.bpf.o')):
        if not os.path.exists(f):
            sys.stderr.write('prism_mininet: %s is missing: run `npm run build` first\n' % f)
            return 2
    if args.test and args.cli:
        ap.error('--test and --cli exclude each other')
    # Before anything is created: a live run's interfaces are not ours to clean up.
    check_leftovers(args.backends)
    specs = host_specs(args.backends)
    # Mininet.init() would raise system-wide limits and sysctls (fixLimits); prism needs none.
    Mininet.inited = True
    logs = os.path.join(RUN_DIR, 'logs')
    procs = []  # (name, Popen, log file): everything started here, stopped in reverse order
    net = None
    status = 1
    summary = None

    # SIGTERM (from a test runner or `docker stop`, for example) unwinds through the cleanup
    # below; not as KeyboardInterrupt, which the Mininet CLI catches and carries on.
    def on_term(_sig, _frame):
        raise Terminated()
    signal.signal(signal.SIGTERM, on_term)
    try:
        os.makedirs(logs, exist_ok=True)
        # A crashed run's files would tell external processes to start early.
        for f in ('switch.args', 'controller.yaml', 'p4rt.sock', 'agent.token', 'admin.token'):
            if os.path.exists(os.path.join(RUN_DIR, f)):
                os.unlink(os.path.join(RUN_DIR, f))
        compiled = choose_target(args, procs)
        ctl_in_root = args.controller_in_root or args.external_controller
        topo = PrismTopo(specs=specs, controller_host=not ctl_in_root)
        switch_cls = lambda name, **kw: P4Switch(name, target=args.switch_target, node=args.node,  # noqa: E731
                                                 external=args.external_switch, **kw)
        # Built after `net` is set, so that an interrupted build is cleaned up too.
        net = Mininet(topo=topo, switch=switch_cls, host=Host, link=Link, controller=None, autoSetMacs=False,
                      autoStaticArp=False, build=False)
        net.build()
        for s in specs:
            h = net.get(s.name)
            intf = h.defaultIntf().name
            # Like a NIC on a wire: checksums filled in before the frame leaves (veth would leave
            # CHECKSUM_PARTIAL sums; the CPU port completes those too, so this is belt and braces).
            h.cmd('ethtool -K %s tx off >/dev/null 2>&1' % intf)
            h.cmd('sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1')
            # The switch routes, it does not flood: every other host resolves to our switch port.
            for o in specs:
                if o is not s:
                    h.cmd('ip neigh replace %s lladdr %s dev %s nud permanent' % (o.ip, s.switch_mac, intf))
        # The agents first: they need only their hosts, and start while the switch does.
        token = secrets.token_urlsafe(24)
        token_file = os.path.join(RUN_DIR, 'agent.token')
        with open(os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'w') as f:
            f.write(token + '\n')
        env = dict(os.environ, PRISM_AGENT_TOKEN=token)
        prism = [args.node, os.path.join(REPO, 'bin', 'prism.js')]
        starting = []
        for s in specs:
            if s.role != 'backend':
                continue
            sock = os.path.join(RUN_DIR, '%s.sock' % s.name)
            if os.path.exists(sock):
                os.unlink(sock)
            log_file = os.path.join(logs, '%s.log' % s.name)
            with open(log_file, 'ab') as log:
                # One object store for every backend (docs/object-server.md): the Mininet hosts share the filesystem.
                p = net.get(s.name).popen(prism + ['agent', '--name', s.name, '--backend-ip', s.ip, '--listen', 'unix:' + sock,
                                                   '--store-dir', os.path.join(RUN_DIR, 'objects'),
                                                   '--vip', '%s:%d' % (VIP['ip'], VIP['port'])],
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
            procs.append((s.name, p, log_file))
            starting.append((s.name, sock, p, log_file))
        net.start()  # starts s1 (P4Switch.start): P4Runtime on the unix socket
        info('*** switch: %s target, P4Runtime on unix:%s\n' % (args.switch_target, P4RT_SOCK))

        # Node's start-up is most of the wait: the agents started together, now each must listen.
        for name, sock, p, log_file in starting:
            wait_for(lambda sock=sock: os.path.exists(sock), 20, 'agent %s' % name, p, log_file)
        info('*** agents: %s\n' % ', '.join(s.name for s in specs if s.role == 'backend'))

        compiled()  # the controller pushes p4c's JSON and P4Info
        cfg_file = os.path.join(RUN_DIR, 'controller.yaml')
        admin_token_file = os.path.join(RUN_DIR, 'admin.token')
        with open(cfg_file + '.tmp', 'w') as f:
            f.write(controller_config(specs, args, token_file, admin_token_file))
        os.rename(cfg_file + '.tmp', cfg_file)
        ctl_log = os.path.join(logs, 'controller.log')
        ctl_cmd = prism + ['controller', '--config', cfg_file]
        if args.external_controller:
            info('*** controller: waiting for an external controller (config %s) on %s:%d\n' % (cfg_file, args.admin_host, args.admin_port))
            admin_addr = '127.0.0.1' if args.admin_host in ('0.0.0.0', '') else args.admin_host
            wait_for(lambda: port_open(admin_addr, args.admin_port), 120, 'the external controller\'s admin API')
        with open(ctl_log, 'ab') as log:
            if args.external_controller:
                pass
            elif ctl_in_root:
                p = subprocess.Popen(ctl_cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
            else:
                p = net.get('ctl').popen(ctl_cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        if not args.external_controller:
            procs.append(('controller', p, ctl_log))
            wait_for(lambda: 'admin API' in tail(ctl_log, 200), 60, 'the controller', p, ctl_log)
        info('*** controller: %s (config %s, log %s)\n' % (
            'external' if args.external_controller else 'root namespace' if ctl_in_root else 'host ctl', cfg_file, ctl_log))

        if args.test:
            # The controller connects to the agents after it starts: give the first request time.
            client = net.get('client')
            url = 'http://%s:%d/bytes/4096' % (VIP['ip'], VIP['port'])
            deadline = time.time() + 30
            while True:
                out = client.cmd('curl -sS --fail --max-time 5 -o /dev/null -w "%%{http_code}" %s' % url)
                if out.strip().endswith('200'):
                    break
                if time.time() > deadline:
                    raise RuntimeError('no answer through the VIP within 30 s (last: %s):\n%s' % (out.strip(), tail(ctl_log)))
                time.sleep(0.5)
            ok, summary = run_test(net, specs, args.requests or args.backends)
            summary['target'] = args.switch_target
            # Every transaction's hand-off rules are gone once its connection closed: read back from
            # the switch over P4Runtime (the admin API's /tables), given a moment for the last close.
            deadline = time.time() + 5
            while True:
                left = handoff_entries(net, args, ctl_in_root, admin_token_file)
                if not left or time.time() > deadline:
                    break
                time.sleep(0.2)
            summary['handoffEntries'] = left
            ok = ok and not left
            print('prism_mininet: hand-off entries left on the switch: %d' % len(left))
            print('PRISM_MININET_RESULT ' + json.dumps(summary, sort_keys=True))
            print('prism_mininet: %s (%s target)' % ('PASS' if ok else 'FAIL', args.switch_target))
            status = 0 if ok else 1
        else:
            try:
                with open(admin_token_file) as f:
                    admin_token = f.read().strip()
            except OSError:
                admin_token = '(see %s)' % ctl_log
            where = '' if ctl_in_root else 'ctl '
            print('\nprism on Mininet: VIP http://%s:%d, %s switch, backends %s' % (
                VIP['ip'], VIP['port'], args.switch_target, ', '.join(s.name for s in specs if s.role == 'backend')))
            print('  try:   client curl -s http://%s/bytes/1048576 -D - -o /dev/null' % VIP['ip'])
            print('  admin: %scurl -s -H "Authorization: Bearer %s" http://%s:%d/backends' % (
                where, admin_token, args.admin_host, args.admin_port))
            print('  logs:  %s\n' % logs)
            CLI(net)
            status = 0
    except (KeyboardInterrupt, Terminated):
        sys.stderr.write('prism_mininet: interrupted\n')
        status = 130
    except (RuntimeError, subprocess.CalledProcessError, OSError) as err:
        sys.stderr.write('prism_mininet: %s\n' % err)
        status = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # Log tails on a failure, and on an interrupted --test (a test runner's timeout): not when
        # someone ends the CLI session with Ctrl-C or SIGTERM.
        cleanup(net, procs, status not in (0, 130) or (args.test and status == 130), args.keep_logs, args.backends)
    return status


if __name__ == '__main__':
    sys.exit(main())
