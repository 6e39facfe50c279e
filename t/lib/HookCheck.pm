package HookCheck;

# Helpers shared by the webhook delivery tests (t/81-t/89): subscriptions
# made in the database as the API makes them, and signature checks.
use strict;
use warnings;
use Exporter qw(import);
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64 decode_base64);

our @EXPORT = qw(new_hook new_hooks hook_row deliveries delivered_runs verify_signature signatures new_secret);

sub new_secret {
	my $bytes = join '', map { chr int rand 256 } 1 .. 32;
	return 'whsec_' . encode_base64($bytes, '');
}

# A subscription of $org_id (default: the test's org) to $url, starting at
# the org's current seq. Returns {id, secret}.
sub new_hook {
	my ($s, $url, %o) = @_;
	my $org = $o{org_id} // $s->org_id;
	my $secret = $o{secret} // new_secret();
	my $events = $o{events} ? '{' . join(',', @{ $o{events} }) . '}' : '{}';
	my $format = $o{format} // 'standard';
	my $id = $s->psql("INSERT INTO webhooks (org_id, url, events, format, secret, cursor_seq) "
		. "SELECT $org, '$url', '$events', '$format', '$secret', event_seq FROM orgs "
		. "WHERE id = $org RETURNING id");
	chomp $id;
	return { id => $id, secret => $secret };
}

# Subscriptions of the test's org to each of @urls, made in one statement
# (one transaction: the hosts hear of them at once, as of a batch). Returns
# [{id, secret}], in the order of @urls.
sub new_hooks {
	my ($s, @urls) = @_;
	my $org = $s->org_id;
	my @secrets = map { new_secret() } @urls;
	my $list = join ',', map { "('$urls[$_]', '$secrets[$_]', $_)" } 0 .. $#urls;
	my %id = map { (split /\|/)[ 1, 0 ] } split /\n/, $s->psql(
		"INSERT INTO webhooks (org_id, url, secret, cursor_seq) "
		. "SELECT $org, v.url, v.secret, o.event_seq FROM orgs o, (VALUES $list) AS v(url, secret, i) "
		. "WHERE o.id = $org ORDER BY v.i RETURNING id, url");
	return [ map { { id => $id{ $urls[$_] }, secret => $secrets[$_] } } 0 .. $#urls ];
}

# The subscription's row: {cursor_seq, enabled, disabled_reason, lease_owner}.
sub hook_row {
	my ($s, $id) = @_;
	my $v = $s->psql("SELECT cursor_seq, enabled, coalesce(disabled_reason, ''), "
		. "coalesce(lease_owner, '') FROM webhooks WHERE id = '$id'");
	chomp $v;
	my @f = split /\|/, $v, -1;
	return { cursor_seq => $f[0], enabled => $f[1] eq 't', disabled_reason => $f[2],
		lease_owner => $f[3] };
}

# Its delivery rows by seq: {seq => {attempts, last_status, last_error,
# next_attempt_at (epoch), delivered (0/1), first_attempt_at (epoch)}}.
sub deliveries {
	my ($s, $id) = @_;
	my %d;
	for my $line (split /\n/, $s->psql("SELECT seq, attempts, coalesce(last_status, 0), "
		. "coalesce(last_error, ''), coalesce(extract(epoch from next_attempt_at)::bigint, 0), "
		. "delivered_at IS NOT NULL, coalesce(extract(epoch from first_attempt_at)::bigint, 0) "
		. "FROM webhook_delivery_log WHERE webhook_id = '$id' ORDER BY seq")) {
		my @f = split /\|/, $line, -1;
		$d{ $f[0] } = { attempts => $f[1], last_status => $f[2], last_error => $f[3],
			next_attempt_at => $f[4], delivered => $f[5] eq 't', first_attempt_at => $f[6] };
	}
	return \%d;
}

# Runs of deliveries at the first try, as incidentd-hooks writes them
# (sql/014): seqs $from..$to (every $o{step}th), $o{size} to a run; status
# 200, duration_ms 10 + seq, first attempt a second before delivery.
sub delivered_runs {
	my ($s, $hook, $from, $to, %o) = @_;
	my $step = $o{step} // 1;
	my $size = $o{size} // 1;
	my $event = $o{event} // 'incident.created';
	my $now = 'extract(epoch from now())::bigint';
	$s->psql("INSERT INTO webhook_delivery_runs SELECT '$hook', min(g), max(g), array_agg(g ORDER BY g), "
		. "array_agg('$event'::text ORDER BY g), array_agg($now - 1 ORDER BY g), array_agg($now ORDER BY g), "
		. "array_agg(200 ORDER BY g), array_agg(10 + g::int ORDER BY g) "
		. "FROM generate_series($from, $to, $step) g GROUP BY (g - $from) / ($step * $size)");
}

# The request's signatures: webhook-signature's space-separated entries.
sub signatures {
	my ($req) = @_;
	return split / /, $req->{headers}{'webhook-signature'} // '';
}

# Standard Webhooks: one of the signatures is v1,base64(HMAC-SHA256(key,
# "id.timestamp.body")), as a receiver checks it.
sub verify_signature {
	my ($secret, $req) = @_;
	my $h = $req->{headers};
	my $key = decode_base64(substr $secret, length 'whsec_');
	my $want = 'v1,' . encode_base64(hmac_sha256("$h->{'webhook-id'}.$h->{'webhook-timestamp'}."
		. $req->{body}, $key), '');
	return scalar grep { $_ eq $want } signatures($req);
}

1;
