; hayes-at-9600 - a Hayes-style AT command modem (a dial-up line or a
; radio modem with an AT command set): full duplex once connected,
; connects at one of several rates and reports it as "CONNECT <rate>",
; reports loss of the connection as "NO CARRIER" and a refused call as
; "BUSY". Escape to command mode with "+++" between two guard times of
; silence, then hang up with ATH0.
[profile]
name = hayes-at-9600
description = Hayes-style AT modem, full duplex, CONNECT / NO CARRIER

[serial]
baud = 19200
data_bits = 8
parity = none
stop_bits = 1
flow = rtscts

[air]
rate = 9600
rates = 1200, 2400, 4800, 9600, 14400
duplex = full
turnaround = 0ms
latency = 50ms
max_tx = 1d
mtu = 512

[modem]
framing = raw
keying = none
carrier = inband
buffer = 2k

[init]
abort = ERROR
timeout = 2s
send = ATZ\r
expect = OK
send = ATE0V1Q0X4\r
expect = OK

[dial]
abort = NO CARRIER
abort = BUSY
abort = NO DIALTONE
abort = ERROR
timeout = 60s
send = ATDT%N\r
expect = CONNECT

[hangup]
timeout = 3s
pause = 1s
send = +++
pause = 1s
expect = OK
send = ATH0\r
expect = OK
