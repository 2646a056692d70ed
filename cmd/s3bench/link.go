package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// linkRate is the 1 Gbit/s link's rate in bytes per second, each way.
const linkRate = 125e6

// origin is where versitygw listens and how s3bench starts it.
type origin struct {
	addr   string   // versitygw's listen address
	dial   string   // where clients and s3gate connect (a relay's address, or addr)
	prefix []string // runs versitygw (e.g. "ip netns exec NS")
	link   string   // a description for the report
	close  func()   // removes the link, after versitygw has stopped
}

// loopbackOrigin puts versitygw on a free loopback port, nothing between.
func loopbackOrigin() (*origin, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return &origin{addr: addr, dial: addr, link: "versitygw on 127.0.0.1, nothing between", close: func() {}}, nil
}

// netnsOrigin puts versitygw in a network namespace of its own, reached
// over a veth pair whose two ends are shaped to 1 Gbit/s by tc's token
// bucket filter, so both directions are limited.
func netnsOrigin(ctx context.Context) (*origin, error) {
	id := os.Getpid()
	ns := fmt.Sprintf("s3bench-%d", id)
	host, peer := fmt.Sprintf("s3b%da", id), fmt.Sprintf("s3b%db", id)
	net3 := fmt.Sprintf("10.213.%d", id%250)
	o := &origin{
		addr:   net3 + ".2:7070",
		prefix: []string{"ip", "netns", "exec", ns},
		link:   "1 Gbit/s: veth pair into a network namespace, tc tbf rate 1gbit on both ends",
		close: func() {
			_ = sh(context.Background(), "ip", "netns", "del", ns) // removes the veth pair too
			_ = sh(context.Background(), "ip", "link", "del", host)
		},
	}
	o.dial = o.addr
	shape := []string{"qdisc", "add", "dev", "", "root", "tbf", "rate", "1gbit", "burst", "256kb", "latency", "50ms"}
	for _, argv := range [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", host, "type", "veth", "peer", "name", peer},
		{"ip", "link", "set", peer, "netns", ns},
		{"ip", "addr", "add", net3 + ".1/30", "dev", host},
		{"ip", "link", "set", host, "up"},
		{"ip", "-n", ns, "addr", "add", net3 + ".2/30", "dev", peer},
		{"ip", "-n", ns, "link", "set", peer, "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		append([]string{"tc"}, withDev(shape, host)...),
		append([]string{"tc", "-n", ns}, withDev(shape, peer)...),
	} {
		if err := sh(ctx, argv...); err != nil {
			o.close()
			return nil, err
		}
	}
	return o, nil
}

func withDev(shape []string, dev string) []string {
	out := append([]string{}, shape...)
	out[3] = dev
	return out
}

// relayOrigin puts versitygw on loopback behind a TCP relay in s3bench
// that paces each direction, summed over all connections, to linkRate.
func relayOrigin(ctx context.Context) (*origin, error) {
	o, err := loopbackOrigin()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	up, down := newPacer(linkRate), newPacer(linkRate)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go relay(c, o.addr, up, down)
		}
	}()
	o.dial = ln.Addr().String()
	o.link = "1 Gbit/s: throttled TCP relay in s3bench (125 MB/s each way) in front of versitygw on loopback"
	o.close = func() { ln.Close() }
	return o, nil
}

func relay(c net.Conn, target string, up, down *pacer) {
	defer c.Close()
	t, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer t.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn, p *pacer) {
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.wait(n)
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(t, c, up)
	go pipe(c, t, down)
	<-done
	<-done
}

// pacer is a token bucket shared by every connection of one direction:
// each chunk books its transfer time on a virtual clock and waits for it.
type pacer struct {
	mu    sync.Mutex
	rate  float64 // bytes per second
	burst time.Duration
	next  time.Time
}

func newPacer(rate float64) *pacer { return &pacer{rate: rate, burst: 2 * time.Millisecond} }

func (p *pacer) wait(n int) {
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now.Add(-p.burst)) {
		p.next = now.Add(-p.burst)
	}
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	d := p.next.Sub(now)
	p.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
