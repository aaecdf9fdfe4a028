; kiss-tnc-1200 - a packet-radio TNC in KISS mode on a VHF/UHF FM radio:
; 1200 bit/s AFSK (Bell 202 tones), half-duplex. The host sends KISS
; frames; the TNC keys the radio itself (in-band: the frame is the request
; to send), waits TXDELAY for the transmitter and the far receiver to
; settle, and uses p-persistent CSMA (PERSIST, SLOTTIME) before keying.
; The TNC firmware comes up in KISS mode, so there is no init dialogue;
; it is told to leave KISS mode (C0 FF C0) on close.
[profile]
name = kiss-tnc-1200
description = KISS TNC, 1200 bit/s AFSK, half duplex

[serial]
baud = 9600
data_bits = 8
parity = none
stop_bits = 1
flow = none

[air]
rate = 1200
duplex = half
turnaround = 300ms
latency = 0ms
max_tx = 10s
mtu = 256

[modem]
framing = kiss
keying = inband
carrier = none
buffer = 2k

[kiss]
port = 0
txdelay = 300ms
persist = 63
slottime = 100ms
txtail = 30ms

[quirks]
kiss_exit_on_close = yes
