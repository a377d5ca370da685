package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// rawPoster speaks just enough HTTP/1.1 over one keep-alive connection to
// POST a JSON body and read the answer (Content-Length or chunked). It costs
// the load generator a fraction of net/http's CPU per request, which matters
// when client and servers share two cores: every microsecond the client
// spends is taken from the server under test.
type rawPoster struct {
	addr string
	head []byte // request line and headers up to the Content-Length value

	conn net.Conn
	br   *bufio.Reader
	stop func() bool // unregisters the context watcher of conn
	req  []byte
	resp []byte
}

func newRawPoster(addr, path string) *rawPoster {
	head := "POST " + path + " HTTP/1.1\r\nHost: " + addr +
		"\r\nUser-Agent: agentguard-loadgen\r\nContent-Type: application/json\r\nContent-Length: "
	return &rawPoster{addr: addr, head: []byte(head)}
}

var errNoLength = errors.New("response has neither Content-Length nor chunked encoding")

func (p *rawPoster) post(ctx context.Context, body []byte) (int, []byte, error) {
	if p.conn == nil {
		d := net.Dialer{Timeout: 5 * time.Second}
		c, err := d.DialContext(ctx, "tcp", p.addr)
		if err != nil {
			return 0, nil, err
		}
		p.conn, p.br = c, bufio.NewReaderSize(c, 16<<10)
		// An interrupt ends a request in flight at once.
		p.stop = context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	}
	p.req = append(p.req[:0], p.head...)
	p.req = strconv.AppendInt(p.req, int64(len(body)), 10)
	p.req = append(p.req, "\r\n\r\n"...)
	p.req = append(p.req, body...)
	if err := p.conn.SetDeadline(time.Now().Add(requestTimeout)); err != nil {
		p.close()
		return 0, nil, err
	}
	if _, err := p.conn.Write(p.req); err != nil {
		p.close()
		return 0, nil, err
	}
	status, keep, err := p.readResponse()
	if err != nil || !keep {
		p.close()
	}
	return status, p.resp, err
}

// readResponse reads one response into p.resp and reports whether the
// connection may be reused.
func (p *rawPoster) readResponse() (status int, keep bool, err error) {
	line, err := p.readLine()
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, fmt.Errorf("bad status line %.80q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("bad status line %.80q", line)
	}
	keep = line[7] == '1' // HTTP/1.1 keeps alive unless told otherwise
	length, chunked := -1, false
	for {
		line, err := p.readLine()
		if err != nil {
			return 0, false, err
		}
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("bad header line %.80q", line)
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(v)); err != nil || length < 0 {
				return 0, false, fmt.Errorf("bad Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(v), []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			keep = !bytes.EqualFold(v, []byte("close"))
		}
	}
	p.resp = p.resp[:0]
	switch {
	case chunked:
		err = p.readChunked()
	case length >= 0:
		err = p.readN(length)
	case status == 204 || status == 304:
	default:
		err = errNoLength
	}
	return status, keep && err == nil, err
}

func (p *rawPoster) readChunked() error {
	for {
		line, err := p.readLine()
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseUint(string(bytes.TrimSpace(size)), 16, 31)
		if err != nil {
			return fmt.Errorf("bad chunk size %.80q", line)
		}
		if n == 0 {
			for { // trailers, up to the empty line
				line, err := p.readLine()
				if err != nil || len(line) == 0 {
					return err
				}
			}
		}
		if err := p.readN(int(n)); err != nil {
			return err
		}
		if line, err := p.readLine(); err != nil || len(line) != 0 {
			return fmt.Errorf("chunk not followed by CRLF: %w", errors.Join(err, io.ErrUnexpectedEOF))
		}
	}
}

// readN appends n body bytes to p.resp.
func (p *rawPoster) readN(n int) error {
	if n > 1<<20 {
		return fmt.Errorf("response body of %d bytes is too large", n)
	}
	off := len(p.resp)
	p.resp = append(p.resp, make([]byte, n)...)
	_, err := io.ReadFull(p.br, p.resp[off:])
	return err
}

// readLine returns a line without its CRLF; valid until the next read.
func (p *rawPoster) readLine() ([]byte, error) {
	line, err := p.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return bytes.TrimSuffix(line[:len(line)-1], []byte("\r")), nil
}

func (p *rawPoster) close() {
	if p.conn != nil {
		p.stop()
		_ = p.conn.Close()
		p.conn, p.br = nil, nil
	}
}
