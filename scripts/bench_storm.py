#!/usr/bin/python3
"""Load generator of scripts/bench_neighbour.sh (bench tooling only).

    bench_storm.py URL SECONDS CONC TOKEN_A IDS_A TOKEN_B ID_B OUT.json

For SECONDS: CONC threads of org A each keep one connection test in flight
(POST /backup-destinations/{id}/test on IDS_A, comma-separated, aimed at a
host that never answers; after a 429 a thread waits one second, as a client
honouring Retry-After at least that much would); org B runs one connection
test a second (ID_B, a responsive host); the status page is sampled every
second for the worker count. Writes the figures to OUT.json.
"""
import json
import sys
import threading
import time

import requests

url, secs, conc = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
tok_a, ids_a, tok_b, id_b, out = sys.argv[4], sys.argv[5].split(","), \
    sys.argv[6], sys.argv[7], sys.argv[8]
deadline = time.monotonic() + secs
lock = threading.Lock()
a_res, b_res, samples = [], [], []


def storm(i):
    s = requests.Session()
    h = {"Authorization": "Bearer " + tok_a}
    n = 0
    while time.monotonic() < deadline:
        dest = ids_a[(i + n) % len(ids_a)]
        n += 1
        t0 = time.monotonic()
        try:
            r = s.post("%s/backup-destinations/%s/test" % (url, dest),
                       headers=h, timeout=120)
            code = r.status_code
            ra = r.headers.get("Retry-After")
        except requests.RequestException as e:
            code, ra = repr(e)[:60], None
        with lock:
            a_res.append((code, time.monotonic() - t0, ra))
        if code == 429:
            time.sleep(1.0)


def neighbour():
    s = requests.Session()
    h = {"Authorization": "Bearer " + tok_b}
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        try:
            code = s.post("%s/backup-destinations/%s/test" % (url, id_b),
                          headers=h, timeout=60).status_code
        except requests.RequestException as e:
            code = repr(e)[:60]
        took = time.monotonic() - t0
        with lock:
            b_res.append((code, took))
        time.sleep(max(0.0, 1.0 - took))


def sampler():
    s = requests.Session()
    t_start = time.monotonic()
    while time.monotonic() < deadline:
        try:
            st = s.get(url + "/backup-destinations-status", timeout=5).json()
            samples.append({"t": round(time.monotonic() - t_start, 1),
                            "total": st["totalProcesses"],
                            "idle": st["idleProcesses"],
                            "probing": st["probingProcesses"],
                            "queue": st["listenQueue"]})
        except (requests.RequestException, ValueError, KeyError):
            pass
        time.sleep(1.0)


threads = [threading.Thread(target=storm, args=(i,)) for i in range(conc)]
threads += [threading.Thread(target=neighbour), threading.Thread(target=sampler)]
for t in threads:
    t.start()
for t in threads:
    t.join()
json.dump({"a": a_res, "b": b_res, "samples": samples}, open(out, "w"))
