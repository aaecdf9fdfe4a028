; hf-300-hd-noisy - the same serial-tone HF modem class at 300 bit/s on a
; poor skywave path: half-duplex with 4000 ms per change of direction (long
; preamble and interleaver at the robust rates) and error bursts during
; fades. The [sim] section gives the simulator a Gilbert-style channel
; whose long-run bit error rate is about 1e-4: bursts of 2 s on average
; every 200 s with 1e-2 errors inside (0.01 * 2/200 = 1e-4). The
; hf-300-hd-noisy channel of BENCHMARKS.md.
[profile]
name = hf-300-hd-noisy
description = serial-tone HF modem, 300 bit/s half duplex, bursty errors

[serial]
baud = 9600
data_bits = 8
parity = none
stop_bits = 1
flow = rtscts

[air]
rate = 300
rates = 75, 150, 300, 600, 1200, 2400
duplex = half
turnaround = 4000ms
latency = 0ms
max_tx = 120s
mtu = 256

[modem]
framing = raw
keying = none
carrier = dcd
buffer = 16k

[sim]
ber = 0
burst_ber = 1e-2
burst_interval = 200s
burst_length = 2s
