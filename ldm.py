import socket, time, os, signal, sys
pid=int(sys.argv[2]); port=int(sys.argv[1])
s=socket.create_connection(("127.0.0.1",port)); s.settimeout(0.5)
print(s.recv(4096)); s.sendall(b'CONNECT {"verbose":false,"protocol":1}\r\nPING\r\n'); time.sleep(0.3); print(s.recv(4096))
os.kill(pid, signal.SIGUSR2); end=time.time()+3
while time.time()<end:
    try:
        d=s.recv(4096)
        if not d: print("<EOF>"); break
        print(repr(d))
    except socket.timeout: pass
try: os.kill(pid,0); print("server still alive")
except OSError: print("server gone")
