; hf-2400-hd - a serial-tone HF data modem of the MIL-STD-188-110 /
; STANAG 4539 class at 2400 bit/s, half-duplex, behind an
; asynchronous serial port. The modem keys the transmitter itself when data
; arrives and raises DCD while it receives a signal. 2000 ms per change of
; direction (PTT release, far AGC recovery, preamble and short interleaver)
; and 120 s maximum transmission: the hf-2400-hd channel of BENCHMARKS.md.
[profile]
name = hf-2400-hd
description = serial-tone HF modem, 2400 bit/s half duplex

[serial]
baud = 9600
data_bits = 8
parity = none
stop_bits = 1
flow = rtscts

[air]
rate = 2400
rates = 75, 150, 300, 600, 1200, 2400, 3200, 4800, 6400, 8000, 9600
duplex = half
turnaround = 2000ms
latency = 0ms
max_tx = 120s
mtu = 1024

[modem]
framing = raw
keying = none
carrier = dcd
buffer = 16k

[quirks]
flush_on_carrier_loss = no

[sim]
ber = 0
