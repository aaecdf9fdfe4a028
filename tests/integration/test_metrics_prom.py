#!/usr/bin/env python3
"""Metrics with the real Prometheus: two gateways over the simulator,
alpha with `metrics_listen` on loopback. `skywave metrics` and the HTTP
listener's /metrics pass `promtool check metrics`; a Prometheus server
started here on loopback scrapes skywaved and answers queries through its
HTTP API with the values the daemon has (link up, messages accepted per
band, the link's nominal rate). Other paths get 404."""
import json
import os
import shutil
import smtplib
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import gwharness as h  # noqa: E402


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def promtool_check(text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)


def main():
    if shutil.which("promtool") is None or shutil.which("prometheus") is None:
        print("prometheus is not installed (scripts/setup.sh installs it)")
        sys.exit(1)
    top = h.tmpdir("metrics")
    ok = False
    mport = h.free_port()
    pport = h.free_port()
    sim = h.Sim(top, "hf-2400-hd", seed=3)
    a = h.Gateway(top, "alpha.example",
                  [("hf", sim.dev("a"), "hf-2400-hd", "bravo.example")],
                  "bravo.example = link:hf\n",
                  extra="metrics_listen = 127.0.0.1:%d\n" % mport)
    b = h.Gateway(top, "bravo.example",
                  [("hf", sim.dev("b"), "hf-2400-hd", "alpha.example")],
                  "bravo.example = maildir:%s/bravo.example/mail\n" % top)
    prom = None
    try:
        a.start()
        b.start()
        assert h.wait_for(lambda: h.log_has(a.logpath, "event=session_up"),
                          30)
        s = smtplib.SMTP("127.0.0.1", a.port, timeout=30)
        for prio in (4, 4, 0):
            s.sendmail("ops@alpha.example", ["chief@bravo.example"],
                       "Subject: m\r\n\r\nhello\r\n",
                       mail_options=["MT-PRIORITY=%d" % prio])
        s.quit()
        assert h.wait_for(lambda: len(b.delivered()) == 3, 120)

        def relayed():
            with open(a.logpath, errors="replace") as f:
                return f.read().count("event=relayed") == 3
        assert h.wait_for(relayed, 60), "alpha never heard the commits"
        time.sleep(1.5)  # one monitor tick

        # trace by a unique prefix: the message's life here
        ids = [l.split("msg=")[1].split()[0] for l in open(a.logpath)
               if "event=queued" in l]
        assert len(ids) == 3, ids
        out = h.sky(a, "trace", ids[0][:8])
        assert out.startswith("message %s on alpha.example" % ids[0]), out
        assert "queued" in out and "-> relayed" in out, out
        r = h.sky_run(a, "trace", "abc")
        assert r.returncode == 1 and "prefix of 4 or more" in r.stderr, r
        r = h.sky_run(a, "trace", "0000000000")
        assert r.returncode == 1 and "no such message" in r.stderr, r

        text = h.sky(a, "metrics")
        promtool_check(text)
        assert 'skywave_link_up{link="hf"} 1' in text, text
        assert 'skywave_smtp_accepted_total{band="4"} 2' in text, text
        assert 'skywave_smtp_accepted_total{band="2"} 1' in text, text
        assert "skywave_smtp_sessions_total 1" in text, text
        assert 'skywave_relayed_total{band="4"} 2' in text, text

        code, ctype, body = http_get("http://127.0.0.1:%d/metrics" % mport)
        assert code == 200 and ctype.startswith("text/plain; version=0.0.4")
        promtool_check(body)
        try:
            http_get("http://127.0.0.1:%d/other" % mport)
            raise AssertionError("/other answered")
        except urllib.error.HTTPError as e:
            assert e.code == 404, e.code

        # a real Prometheus scraping skywaved
        pdir = os.path.join(top, "prom")
        os.makedirs(pdir)
        with open(os.path.join(pdir, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n"
                    "scrape_configs:\n  - job_name: skywave\n"
                    "    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % mport)
        plog = open(os.path.join(pdir, "prometheus.log"), "w")
        prom = subprocess.Popen(
            ["prometheus", "--config.file=%s/prometheus.yml" % pdir,
             "--storage.tsdb.path=%s/data" % pdir,
             "--web.listen-address=127.0.0.1:%d" % pport],
            stdout=plog, stderr=subprocess.STDOUT)
        api = "http://127.0.0.1:%d/api/v1/query?query=" % pport

        def query(q):
            try:
                _, _, body = http_get(api + urllib.request.quote(q))
            except (urllib.error.URLError, ConnectionError, OSError):
                return None
            r = json.loads(body)
            if r.get("status") != "success" or not r["data"]["result"]:
                return None
            return r["data"]["result"]

        assert h.wait_for(lambda: query('skywave_link_up{link="hf"}'), 60,
                          0.5), "prometheus never scraped skywaved"
        res = query('skywave_link_up{link="hf"}')
        assert res[0]["value"][1] == "1", res
        res = query('sum(skywave_smtp_accepted_total)')
        assert res and res[0]["value"][1] == "3", res
        res = query('skywave_link_nominal_bytes_per_second{link="hf"}')
        assert res and res[0]["value"][1] == "300", res
        res = query('up{job="skywave"}')
        assert res and res[0]["value"][1] == "1", res
        ok = True
        print("ok")
    finally:
        if prom is not None:
            prom.terminate()
            try:
                prom.wait(20)
            except subprocess.TimeoutExpired:
                prom.kill()
        a.stop()
        b.stop()
        sim.stop()
        h.cleanup(top, ok)


if __name__ == "__main__":
    main()
