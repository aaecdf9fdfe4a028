; los-19200 - a fast line-of-sight UHF data radio with a built-in modem
; (the class of narrowband telemetry/data radios): 19200 bit/s on air
; (9600 as the fallback rate), half-duplex with a fast 20 ms
; transmit/receive switch, a small buffer, and DCD raised while a signal is
; received. The host line runs faster than the air and is paced by RTS/CTS.
[profile]
name = los-19200
description = line-of-sight UHF data radio, 19200 bit/s half duplex

[serial]
baud = 115200
data_bits = 8
parity = none
stop_bits = 1
flow = rtscts

[air]
rate = 19200
rates = 9600, 19200
duplex = half
turnaround = 20ms
latency = 10ms
max_tx = 10s
mtu = 1024

[modem]
framing = raw
keying = none
carrier = dcd
buffer = 8k
