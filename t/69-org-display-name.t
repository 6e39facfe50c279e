#!/usr/bin/perl
# An organisation's display name (issue 11, item 1): `incidentctl org rename
# NAME DISPLAY_NAME` and `org create NAME --display-name TEXT` set it (1-200
# characters of UTF-8, trimmed, no control character; anything else exits 1
# with a message and changes nothing), `org list` shows it as a third
# column, and customers see it: the status page shows it and its Atom feed
# names it as author, each organisation its own.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use Encode qw(encode_utf8 decode_utf8);
use XML::LibXML;
use IncidentdTest;
use OpenAPICheck;

my $s = IncidentdTest->new;
my $org = $s->org_name;
my $W = $s->key('write');

# incidentctl with character-string arguments; (exit code, stdout, stderr) as characters.
sub ctl {
  my ($code, $out, $err) = $s->incidentctl(map { encode_utf8($_) } @_);
  return ($code, decode_utf8($out), decode_utf8($err));
}
sub stored {
  my ($name) = @_;
  (my $q = $name) =~ s/'/''/g;
  my $v = $s->psql(encode_utf8("SELECT coalesce(display_name, '<null>') FROM orgs WHERE name = '$q'"));
  chomp $v;
  return decode_utf8($v);
}
sub list_row {
  my ($name) = @_;
  my ($code, $out) = ctl('org', 'list');
  my ($row) = grep { (split /\t/)[1] eq $name } split /\n/, $out;
  return $row // '';
}
my $xpc = XML::LibXML::XPathContext->new;
$xpc->registerNs(a => 'http://www.w3.org/2005/Atom');
# The author and subtitle of an incident's feed, as a feed reader reads them.
sub feed_names {
  my ($token) = @_;
  my $r = $s->req(GET => "/incidents/status/$token/feed.atom");
  response_ok($r, 'GET', "/incidents/status/$token/feed.atom", "the feed answers per openapi.json");
  my $doc = eval { XML::LibXML->load_xml(string => $r->{content}, no_network => 1) };
  return ('', '', $r) unless $doc;
  return ($xpc->findvalue('/a:feed/a:author/a:name', $doc), $xpc->findvalue('/a:feed/a:subtitle', $doc), $r);
}

my $inc = $s->req(POST => '/v1/tickets', key => $W, body => { title => 'Checkout errors' })->{json};
my $token = $inc->{customer_token};

# --- no display name yet: the name -------------------------------------------------------------------
is(stored($org), '<null>', 'a new organisation has no display name');
like(list_row($org), qr/^\d+\t\Q$org\E\t-$/, 'org list: id, name and "-" for no display name');
is((feed_names($token))[0], $org, 'the feed names the organisation by its name meanwhile');

# --- rename -------------------------------------------------------------------------------------------
my ($code, $out, $err) = ctl('org', 'rename', $org, 'Acme Cloud');
is($code, 0, 'org rename NAME DISPLAY_NAME: exit 0') or diag($err);
like($out, qr/\Q$org\E/, '... and says which organisation it renamed');
is(stored($org), 'Acme Cloud', 'orgs.display_name is set');
like(list_row($org), qr/^\d+\t\Q$org\E\tAcme Cloud$/, 'org list shows it as the third column');
my ($author, $subtitle) = feed_names($token);
is($author, 'Acme Cloud', "the feed's author is the display name");
is($subtitle, 'Status updates from Acme Cloud', '... and so is its subtitle');

my $hostile = q{<b>Acme</b> & "Sons" 'Ltd' ]]> — Ünïcode 🔥};
($code, undef, $err) = ctl('org', 'rename', $org, $hostile);
is($code, 0, 'a display name with markup, quotes and non-ASCII is accepted') or diag($err);
is(stored($org), $hostile, '... stored exactly');
my $r;
($author, undef, $r) = feed_names($token);
is($author, $hostile, '... and read back exactly from the feed');
unlike($r->{content}, qr/<b>Acme/, '... where it is escaped, never markup');
my $html = decode_utf8($s->req(GET => "/incidents/status/$token", headers => { Accept => 'text/html' })->{content} // '');
unlike($html, qr/<b>Acme<\/b>/, 'the status page never shows it as markup');
like($html, qr/&lt;b&gt;Acme&lt;\/b&gt; &amp; (&quot;|&#34;|")Sons/, 'the status page shows the display name, escaped');

($code, undef, $err) = ctl('org', 'rename', $org, "  Acme Cloud \t");
is($code, 0, 'surrounding space is accepted') or diag($err);
is(stored($org), 'Acme Cloud', '... and trimmed');
my $longest = 'é' x 200;
($code, undef, $err) = ctl('org', 'rename', $org, $longest);
is($code, 0, '200 characters (400 bytes) are accepted: characters count, not bytes') or diag($err);
is(stored($org), $longest, '... stored');

# --- refused: exit 1, a message, nothing changed ---------------------------------------------------------
ctl('org', 'rename', $org, 'Acme Cloud');
for my $case (
  [ 'empty', '', qr/1 to 200 characters/ ],
  [ 'blank', "   \t ", qr/1 to 200 characters/ ],
  [ '201 characters', 'é' x 201, qr/1 to 200 characters/ ],
  [ 'a tab inside', "Acme\tCloud", qr/control characters/ ],
  [ 'a line break inside', "Acme\nCloud", qr/control characters/ ],
  [ 'U+0001', "Acme\x01", qr/control characters/ ],
  [ 'DEL', "Acme\x7F", qr/control characters/ ],
  [ 'a C1 control (U+0085)', "Acme\x{85}", qr/control characters/ ],
) {
  my ($name, $value, $why) = @$case;
  my ($c, $o, $e) = ctl('org', 'rename', $org, $value);
  is($c, 1, "$name: exit 1");
  like($e, $why, "$name: says why");
  is(stored($org), 'Acme Cloud', "$name: the display name is unchanged");
}
{
  my ($c, $o, $e) = $s->incidentctl('org', 'rename', $org, "Acme \xff\xfe");
  is($c, 1, 'bytes that are not UTF-8: exit 1');
  like($e, qr/valid UTF-8/, '... says why');
  is(stored($org), 'Acme Cloud', '... unchanged');
}
($code, $out, $err) = ctl('org', 'rename', 'no-such-org-' . $$, 'Ghost');
is($code, 1, 'an unknown organisation: exit 1');
like($err, qr/no organisation named "no-such-org-\d+"/, '... says so');
($code, undef, $err) = ctl('org', 'rename', $org);
is($code, 2, 'a missing argument: exit 2');
like($err, qr/usage: .*org rename NAME DISPLAY_NAME/, '... with the usage of org rename');
($code, undef, $err) = ctl('org', 'rename', $org, 'a', 'b');
is($code, 2, 'an argument too many: exit 2');
($code, undef, $err) = ctl('help');
like($err, qr/^\s+org rename NAME DISPLAY_NAME$/m, 'the usage table lists org rename');
like($err, qr/^\s+org create NAME \[--display-name TEXT\]$/m, '... and org create --display-name');

# --- org create --display-name ------------------------------------------------------------------------
my $b_name = "display-b-$$";
($code, $out, $err) = ctl('org', 'create', $b_name, '--display-name', 'Bravo Networks');
is($code, 0, 'org create NAME --display-name TEXT: exit 0') or diag($err);
like($out, qr/^\d+$/, '... prints the id');
is(stored($b_name), 'Bravo Networks', '... with the display name');
($code, undef, $err) = ctl('org', 'create', "display-c-$$", '--display-name', "bad\x01");
is($code, 1, 'org create with a bad display name: exit 1');
like($err, qr/control characters/, '... says why');
is($s->psql("SELECT count(*) FROM orgs WHERE name = 'display-c-$$'"), "0\n", '... and creates no organisation');
($code, undef, $err) = ctl('org', 'create', "display-d-$$", '--display-name');
is($code, 2, 'org create with --display-name but no text: exit 2');
($code, undef, $err) = ctl('org', 'create', "display-d-$$", '--colour', 'red');
is($code, 2, 'org create with an unknown flag: exit 2');
($code, $out) = ctl('org', 'create', "display-e-$$");
is($code, 0, 'org create NAME alone still works');
is(stored("display-e-$$"), '<null>', '... without a display name');

# --- each organisation its own ------------------------------------------------------------------------
my $b_key = $s->_ctl_ok('key', 'create', '--org', $b_name, '--role', 'write');
my $b_inc = $s->req(POST => '/v1/tickets', key => $b_key, body => { title => 'Bravo outage' })->{json};
is((feed_names($b_inc->{customer_token}))[0], 'Bravo Networks', "another org's feed names that org");
is((feed_names($token))[0], 'Acme Cloud', '... and this one still names this org');

$s->finish;
done_testing;
