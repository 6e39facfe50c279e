package SSEClient;

# A raw-socket Server-Sent Events client for the tests: one HTTP/1.1 GET on
# its own TCP connection, the response head parsed, then the body decoded
# (chunked or not) and cut into frames as the bytes arrive. Nothing is
# hidden: the tests see every frame, comment and header, the time each frame
# arrived and how the response ended.
#
#     my $c = SSEClient->new(port => $port, path => '/v1/incidents/stream',
#                            headers => { 'x-api-key' => $key });
#     $c->{status};                    # 200, or 401 ... with $c->{json}
#     my $f = $c->next_frame(5);       # any frame: {raw, retry, id, comments, ...}
#     my $e = $c->next_event(5);       # next frame with an event or data field
#     # $e = {id, event, data (decoded JSON, else the text), data_raw,
#     #       comments => [comment lines since the previous event], t => arrival}
#     my $list = $c->events_until_id(42, 10);   # events up to and including id 42
#     my $list = $c->read_until(sub { $_[0]{event} eq 'x' }, 10);
#     my ($list, $closed) = $c->wait_closed(10); # events until the server ends it
#     $c->{end};                       # undef while open; 'clean' (the chunked
#                                      # body was terminated), 'closed' (EOF of an
#                                      # unchunked body), 'truncated' (EOF inside
#                                      # a chunked body), 'reset', 'error'
#     $c->close;
#     $c->socket;                      # for select() over many clients
#
# Every read has a deadline: a method returns undef (or what it got so far)
# when it passes, never blocks longer.

use strict;
use warnings;

use Carp qw(croak);
use Errno qw(EAGAIN EINTR EWOULDBLOCK ECONNRESET);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Socket qw(SOL_SOCKET SO_RCVBUF IPPROTO_TCP TCP_NODELAY inet_aton pack_sockaddr_in);
use Time::HiRes qw(time);

my $JSON = JSON::PP->new->utf8->canonical;

# new(port => N, path => '/...', host => '127.0.0.1', method => 'GET',
#     headers => {name => value}, timeout => 10 (connect and response head),
#     rcvbuf => bytes (SO_RCVBUF before connecting: a small one makes a
#     client that does not read fill up quickly),
#     local_addr => '127.0.0.2' (the client's own address: another "client"
#     for per-address limits))
# Dies when it cannot connect or no response head arrives in time.
sub new {
	my ($class, %o) = @_;
	my $self = bless {
		host => $o{host} // '127.0.0.1',
		port => $o{port} // croak('port needed'),
		path => $o{path} // croak('path needed'),
		method => $o{method} // 'GET',
		local_addr => $o{local_addr},
		raw => '',        # bytes read, not yet decoded
		body => '',       # decoded body, not yet cut into frames
		frames => [],     # complete frames not yet returned
		pending_comments => [],
		chunk_left => 0,  # bytes left in the current chunk
		chunk_state => 'size',
		heartbeats => [], # arrival times of ': heartbeat' comments
		end => undef,
		last_id => undef,
	}, $class;
	my $timeout = $o{timeout} // 10;
	$self->_connect($o{rcvbuf}, $timeout);
	$self->_send_request($o{headers} // {});
	$self->_read_head(time + $timeout);
	# An error (or any non-200) response is short: read all of it.
	if ($self->{status} != 200) {
		$self->_read_all(time + $timeout);
		$self->{content} = $self->{body};
		$self->{json} = eval { $JSON->decode($self->{body}) };
		$self->{body} = '';
	}
	return $self;
}

sub _connect {
	my ($self, $rcvbuf, $timeout) = @_;
	my $sock = IO::Socket::INET->new(Proto => 'tcp',
		$self->{local_addr} ? (LocalAddr => $self->{local_addr}) : ())
	    or die "SSEClient: socket: $!\n";
	# Before connect, so the window offered in the handshake is small too.
	setsockopt($sock, SOL_SOCKET, SO_RCVBUF, pack('i', $rcvbuf))
	    or die "SSEClient: SO_RCVBUF: $!\n" if $rcvbuf;
	my $addr = pack_sockaddr_in($self->{port}, inet_aton($self->{host}));
	$sock->blocking(0);
	unless (connect $sock, $addr) {
		die "SSEClient: connect $self->{host}:$self->{port}: $!\n"
		    unless $!{EINPROGRESS} || $!{EWOULDBLOCK};
		IO::Select->new($sock)->can_write($timeout)
		    or die "SSEClient: connect $self->{host}:$self->{port}: timed out\n";
		my $err = unpack 'i', getsockopt($sock, SOL_SOCKET, Socket::SO_ERROR());
		if ($err) {
			local $! = $err;
			die "SSEClient: connect $self->{host}:$self->{port}: $!\n";
		}
	}
	setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
	$self->{sock} = $sock;
}

sub _send_request {
	my ($self, $headers) = @_;
	my %h = (
		host => "$self->{host}:$self->{port}",
		accept => 'text/event-stream',
		'cache-control' => 'no-cache',
		'user-agent' => 'incidentd-test-sse/1',
	);
	# The caller's headers replace the defaults, whatever their case.
	for my $name (keys %$headers) {
		delete $h{lc $name};
		$h{$name} = $headers->{$name};
	}
	my $req = "$self->{method} $self->{path} HTTP/1.1\r\n"
	    . join('', map { "$_: $h{$_}\r\n" } sort keys %h) . "\r\n";
	my $sock = $self->{sock};
	my $sel = IO::Select->new($sock);
	while (length $req) {
		$sel->can_write(10) or die "SSEClient: request not sent in 10s\n";
		my $n = syswrite $sock, $req;
		next if !defined $n && ($!{EAGAIN} || $!{EINTR});
		die "SSEClient: write: $!\n" unless defined $n;
		substr($req, 0, $n, '');
	}
}

sub _read_head {
	my ($self, $deadline) = @_;
	my $at;
	until (($at = index $self->{raw}, "\r\n\r\n") >= 0) {
		$self->_read_some($deadline)
		    or die "SSEClient: no response head from $self->{method} $self->{path}"
		    . ($self->{end} ? " (connection $self->{end})" : ' within the timeout')
		    . ": got '$self->{raw}'\n";
	}
	my $head = substr $self->{raw}, 0, $at + 4, '';
	my ($status_line, @lines) = split /\r\n/, $head;
	$status_line =~ m{^HTTP/(\d\.\d) (\d{3})(?: (.*))?$}
	    or die "SSEClient: bad status line '$status_line'\n";
	@$self{qw(http_version status reason)} = ($1, $2, $3 // '');
	for (@lines) {
		my ($name, $value) = /^([^:]+):\s*(.*?)\s*$/ or next;
		push @{ $self->{headers_all}{ lc $name } }, $value;
		$self->{headers}{ lc $name } = $value;
	}
	my $te = lc($self->{headers}{'transfer-encoding'} // '');
	if ($te =~ /chunked/) {
		$self->{mode} = 'chunked';
	} elsif (defined $self->{headers}{'content-length'}) {
		$self->{mode} = 'length';
		$self->{length_left} = $self->{headers}{'content-length'};
	} else {
		$self->{mode} = 'close';
	}
	$self->_decode;
}

# Reads the whole (short) body of a non-stream response.
sub _read_all {
	my ($self, $deadline) = @_;
	until ($self->{end}) {
		$self->_read_some($deadline) or last;
		$self->_decode;
	}
}

# One read into {raw}; false on timeout or end of connection (which sets
# {end} unless already set).
sub _read_some {
	my ($self, $deadline) = @_;
	return 0 if $self->{eof};
	my $sock = $self->{sock} or return 0;
	my $sel = IO::Select->new($sock);
	while (1) {
		my $left = $deadline - time;
		$left = 0 if $left < 0;
		return 0 unless $sel->can_read($left);
		my $n = sysread $sock, $self->{raw}, 65536, length $self->{raw};
		if (!defined $n) {
			next if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
			$self->{eof} = 1;
			$self->{end} //= $!{ECONNRESET} ? 'reset' : 'error';
			$self->{error} = "$!";
			return 0;
		}
		if ($n == 0) {
			$self->{eof} = 1;
			return 0;
		}
		return 1;
	}
}

# Moves bytes from {raw} into {body} per the transfer coding, then notes how
# the body ended once the connection is gone.
sub _decode {
	my ($self) = @_;
	my $mode = $self->{mode} // return;
	if ($mode eq 'close') {
		$self->{body} .= $self->{raw};
		$self->{raw} = '';
	} elsif ($mode eq 'length') {
		my $n = length $self->{raw};
		$n = $self->{length_left} if $n > $self->{length_left};
		$self->{body} .= substr $self->{raw}, 0, $n, '';
		$self->{length_left} -= $n;
		$self->{end} //= 'clean' if $self->{length_left} == 0;
	} else {
		$self->_dechunk;
	}
	if ($self->{eof} && !$self->{end}) {
		$self->{end} = $mode eq 'close' ? 'closed' : 'truncated';
	}
}

sub _dechunk {
	my ($self) = @_;
	while (!$self->{end} || $self->{end} ne 'clean') {
		my $state = $self->{chunk_state};
		if ($state eq 'data') {
			my $n = length $self->{raw};
			return unless $n;
			$n = $self->{chunk_left} if $n > $self->{chunk_left};
			$self->{body} .= substr $self->{raw}, 0, $n, '';
			$self->{chunk_left} -= $n;
			$self->{chunk_state} = 'crlf' if $self->{chunk_left} == 0;
		} elsif ($state eq 'crlf') {
			return if length $self->{raw} < 2;
			my $crlf = substr $self->{raw}, 0, 2, '';
			die "SSEClient: chunk not followed by CRLF\n" unless $crlf eq "\r\n";
			$self->{chunk_state} = 'size';
		} elsif ($state eq 'size') {
			my $at = index $self->{raw}, "\r\n";
			return if $at < 0;
			my $line = substr $self->{raw}, 0, $at + 2, '';
			$line =~ /^([0-9a-fA-F]+)\s*(?:;.*)?\r\n\z/
			    or die "SSEClient: bad chunk size line '$line'\n";
			my $size = hex $1;
			if ($size == 0) {
				$self->{chunk_state} = 'trailer';
			} else {
				$self->{chunk_left} = $size;
				$self->{chunk_state} = 'data';
			}
		} else {    # trailer: header lines up to an empty one
			my $at = index $self->{raw}, "\r\n";
			return if $at < 0;
			my $line = substr $self->{raw}, 0, $at + 2, '';
			$self->{end} = 'clean' if $line eq "\r\n";
		}
	}
}

# Cuts complete frames (text up to a blank line) out of {body}.
sub _cut_frames {
	my ($self) = @_;
	$self->{body} =~ s/\r\n/\n/g;
	while ($self->{body} =~ s/\A(.*?)\n\n//s) {
		push @{ $self->{frames} }, _parse_frame($1);
	}
}

sub _parse_frame {
	my ($text) = @_;
	my %f = (raw => $text, comments => [], t => time, fields => []);
	my @data;
	for my $line (split /\n/, $text) {
		if ($line =~ /^:(.*)$/) {
			(my $c = $1) =~ s/^ //;
			push @{ $f{comments} }, $c;
			next;
		}
		my ($name, $value) = $line =~ /^([^:]*)(?::(.*))?$/;
		$value //= '';
		$value =~ s/^ //;
		push @{ $f{fields} }, $name;
		if ($name eq 'data') {
			push @data, $value;
		} elsif ($name eq 'id' || $name eq 'event' || $name eq 'retry') {
			$f{$name} = $value;
		}
	}
	if (@data) {
		$f{data_raw} = join "\n", @data;
		my $decoded = eval { $JSON->decode($f{data_raw}) };
		$f{data} = defined $decoded ? $decoded : $f{data_raw};
	}
	return \%f;
}

# The next complete frame, or undef when none arrives within $timeout seconds
# or the stream has ended (see {end}).
sub next_frame {
	my ($self, $timeout) = @_;
	my $deadline = time + ($timeout // 5);
	while (1) {
		$self->_cut_frames;
		if (my $f = shift @{ $self->{frames} }) {
			$self->{last_id} = $f->{id} if defined $f->{id};
			push @{ $self->{heartbeats} }, $f->{t} if grep { $_ eq 'heartbeat' } @{ $f->{comments} };
			return $f;
		}
		return undef if $self->{end} || $self->{eof};
		my $got = $self->_read_some($deadline);
		$self->_decode;
		return undef unless $got || $self->{eof};
	}
}

# The next frame that carries an event or data field (so not the retry and
# id-only frames, nor heartbeats); its {comments} are all comment lines seen
# since the previous event. Undef on timeout or end.
sub next_event {
	my ($self, $timeout) = @_;
	my $deadline = time + ($timeout // 5);
	while (1) {
		my $left = $deadline - time;
		my $f = $self->next_frame($left > 0 ? $left : 0) or return undef;
		push @{ $self->{pending_comments} }, @{ $f->{comments} };
		next unless defined $f->{event} || defined $f->{data_raw};
		$f->{comments} = $self->{pending_comments};
		$self->{pending_comments} = [];
		return $f;
	}
}

# Reads events until $pred->($event) is true or $timeout passes. Returns the
# events read (the match last); in list context also whether one matched.
sub read_until {
	my ($self, $pred, $timeout) = @_;
	my $deadline = time + ($timeout // 10);
	my @events;
	my $matched = 0;
	while (1) {
		my $left = $deadline - time;
		my $e = $self->next_event($left > 0 ? $left : 0) or last;
		push @events, $e;
		if ($pred->($e)) {
			$matched = 1;
			last;
		}
	}
	return wantarray ? (\@events, $matched) : \@events;
}

# Events until one whose id is >= $id.
sub events_until_id {
	my ($self, $id, $timeout) = @_;
	return $self->read_until(sub { defined $_[0]{id} && $_[0]{id} =~ /^\d+$/ && $_[0]{id} >= $id },
		$timeout);
}

# Reads until the server ends the response; returns the events read and, in
# list context, whether it ended within $timeout.
sub wait_closed {
	my ($self, $timeout) = @_;
	my ($events) = $self->read_until(sub { 0 }, $timeout);
	my $closed = $self->closed;
	return wantarray ? ($events, $closed) : $events;
}

# True once the server has ended the response (or the connection).
sub closed {
	my ($self) = @_;
	return defined $self->{end} || $self->{eof};
}

sub status { $_[0]{status} }
sub socket { $_[0]{sock} }
sub header { $_[0]{headers}{ lc $_[1] } }
sub request_id { $_[0]{headers}{'x-request-id'} }
sub last_id { $_[0]{last_id} }
sub end { $_[0]{end} }

sub close {
	my ($self) = @_;
	my $sock = delete $self->{sock} or return;
	CORE::close($sock);
}

sub DESTROY { $_[0]->close }

1;
