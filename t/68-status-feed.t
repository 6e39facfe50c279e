#!/usr/bin/perl
# The Atom feed of a status page (issue 11, item 3): GET
# /incidents/status/:token/feed.atom without a key, parsed by a real XML
# parser (XML::LibXML): well-formed Atom 1.0 with the elements RFC 4287
# requires, holding what the page holds and nothing else — its entries are
# the page's public timeline, newest first; permanent ids that name no row;
# hostile text that reads back exactly (or as U+FFFD where XML 1.0 has no
# way to write a character); headers that keep the secret URL out of shared
# caches and search engines; a strong ETag and 304; the 404 envelope.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use Digest::SHA qw(sha256_hex);
use Encode qw(encode_utf8);
use XML::LibXML;
use ApiCall;
use IncidentdTest;

my $ATOM = 'http://www.w3.org/2005/Atom';
my $RFC3339 = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
my $MARKER = "INTERNAL-MARKER-$$-q7";

my $s = IncidentdTest->new;
my $W = $s->key('write');
my $api = ApiCall->new($s, $W);
sub call { my ($method, $path, $body) = @_; return $api->call($method, $path, body => $body) }
sub public { return $api->public(@_) }
sub feed { public(GET => "$_[0]/feed.atom", @_[1 .. $#_]) }
sub page_json { public(GET => $_[0], Accept => 'application/json')->{json} }

# The document, or undef after a failed assertion.
sub parse_ok {
  my ($r, $name) = @_;
  my $doc = eval { XML::LibXML->load_xml(string => $r->{content}, no_network => 1) };
  ok($doc, "$name: a well-formed XML document") or diag($@);
  return $doc;
}
my $xpc = XML::LibXML::XPathContext->new;
$xpc->registerNs(a => $ATOM);
sub texts { my ($node, $xpath) = @_; return map { $_->textContent } $xpc->findnodes($xpath, $node) }
sub text1 { my @t = texts(@_); return @t == 1 ? $t[0] : undef }

# What XML 1.0 cannot carry reads back as U+FFFD.
sub xml_readable { my ($t) = @_; $t =~ s/[\x00-\x08\x0B\x0C\x0E-\x1F\x{FFFE}\x{FFFF}]/\x{FFFD}/g; return $t }

# Entries as [id, title, updated, published, content, content type, alternate href].
sub entries {
  my ($doc) = @_;
  return map {
    [ text1($_, 'a:id'), text1($_, 'a:title'), text1($_, 'a:updated'), text1($_, 'a:published'),
      text1($_, 'a:content'), $xpc->findvalue('a:content/@type', $_),
      $xpc->findvalue('a:link[@rel="alternate"]/@href', $_) ]
  } $xpc->findnodes('/a:feed/a:entry', $doc);
}

# --- an incident with hostile text, an internal reply and a status change without message -------------
my $display = q{Acme <Cloud> & "Sons" 'Ltd' ]]> — Ünïcode};
my ($code, undef, $err) = $s->incidentctl('org', 'rename', $s->org_name, encode_utf8($display));
is($code, 0, 'incidentctl org rename sets a hostile display name') or diag($err);

my $title = qq{<script>alert("t")</script> ]]> &amp; 'sq' \x01 bell\x07 \x{FFFE} — Ünïcode 🔥};
my $inc = call(POST => '/v1/tickets', { title => $title, description => 'SECRET-DESCRIPTION',
  location_name => 'SECRET-LOCATION', assigned_to => 'SECRET-ASSIGNEE', impact_description => 'SECRET-IMPACT',
  source_ref => 'SECRET-REF', tags => ['SECRET-TAG'] })->{json};
my $page_path = "/incidents/status/$inc->{customer_token}";
my $page = $inc->{customer_status_url};
like($page, qr{^http://\S+\Q$page_path\E$}, "the page's absolute URL is the incident's customer_status_url");
my $hostile = qq{<script>alert('x')</script> ]]> <![CDATA[x]]> &amp; &#x41; "dq" 'sq'\r\nline two\ttab \x01\x1F \x{FFFE}\x{FFFF} é € 🔥};
is(call(PATCH => "/v1/tickets/$inc->{id}", { status => 'investigating', message => 'We are <b>on it</b>.' })->{status}, 200,
   'a status change with a message');
is(call(POST => "/v1/tickets/$inc->{id}/replies", { body => "$MARKER <secret>", internal => JSON::PP::true })->{status}, 201,
   'an internal reply with a marker');
is(call(POST => "/v1/tickets/$inc->{id}/replies", { body => $hostile })->{status}, 201,
   'a public reply with markup, CDATA end, entities, quotes, CR LF, tab, control characters, U+FFFE/U+FFFF');
is(call(PATCH => "/v1/tickets/$inc->{id}", { status => 'monitoring' })->{status}, 200, 'a status change without a message');
is(call(PATCH => "/v1/tickets/$inc->{id}", { priority => 'low' })->{status}, 200, 'a change without a timeline entry');
# the status each entry was written in, oldest first
my @words = ('Investigating', 'Investigating', 'Monitoring');

# --- the response ------------------------------------------------------------------------------------
my $r = feed($page_path);
is($r->{status}, 200, 'the feed: 200 without a key');
is($r->{headers}{'content-type'}, 'application/atom+xml; charset=utf-8', 'Content-Type: application/atom+xml; charset=utf-8');
is($r->{headers}{'x-content-type-options'}, 'nosniff', 'X-Content-Type-Options: nosniff');
is($r->{headers}{'x-robots-tag'}, 'noindex', 'X-Robots-Tag: noindex (the token is a secret)');
is($r->{headers}{'referrer-policy'}, 'no-referrer', 'Referrer-Policy: no-referrer');
is($r->{headers}{'cache-control'}, 'private, no-cache', 'Cache-Control: private, no-cache');
my $etag = $r->{headers}{etag} // '';
is($etag, '"' . sha256_hex($r->{content}) . '"', 'ETag: a SHA-256 of the body, quoted (strong)');
like($r->{content}, qr/\A<\?xml version="1\.0" encoding="utf-8"\?>\n/, 'an XML declaration of version 1.0, UTF-8');
unlike($r->{content}, qr/\Q$MARKER\E|<secret>|&lt;secret&gt;/, 'no internal entry text anywhere in the raw body');
unlike($r->{content}, qr/SECRET-/, 'no description, location, assignee, impact, tags or source_ref');
unlike($r->{content}, qr/\Q$W\E|ik_/, 'no key');

my $doc = parse_ok($r, 'the feed');
my $root = $doc ? $doc->documentElement : undef;
is($root && $root->namespaceURI, $ATOM, 'the root element is in the Atom namespace');
is($root && $root->localname, 'feed', '... and is <feed>');

# --- feed elements ------------------------------------------------------------------------------------
my $json_page = page_json($page_path);
my @public = @{ $json_page->{replies} || [] };
is(scalar @public, 3, 'the JSON view of the page has the three public entries');
is(text1($doc, '/a:feed/a:id'), $page, "feed id: the page's absolute URL");
is(text1($doc, '/a:feed/a:title'), xml_readable($title), 'feed title: the incident title, read back exactly (U+FFFD where XML has no way)');
is(text1($doc, '/a:feed/a:subtitle'), "Status updates from $display", 'subtitle names the organisation by its display name');
is(text1($doc, '/a:feed/a:author/a:name'), $display, "author: the organisation's display name");
my $feed_updated = text1($doc, '/a:feed/a:updated') // '';
like($feed_updated, $RFC3339, 'feed updated: RFC 3339 UTC with Z');
my ($latest) = sort { $b cmp $a } $json_page->{updated_at}, map { $_->{created_at} } @public;
is($feed_updated, $latest, 'feed updated: the latest of the incident updated_at and its newest entry');
is_deeply([texts($doc, '/a:feed/a:link[@rel="self"]/@href')], ["$page/feed.atom"], "one self link: the feed's own URL");
is_deeply([texts($doc, '/a:feed/a:link[@rel="self"]/@type')], ['application/atom+xml'], '... typed application/atom+xml');
is_deeply([texts($doc, '/a:feed/a:link[@rel="alternate"]/@href')], [$page], 'one alternate link: the page');
is_deeply([texts($doc, '/a:feed/a:link[@rel="alternate"]/@type')], ['text/html'], '... typed text/html');
is(text1($doc, '/a:feed/a:generator'), 'incidentd', 'generator: incidentd');
like($xpc->findvalue('/a:feed/a:generator/@version', $doc), qr/^\d+\.\d+\.\d+$/, '... with its version');
# RFC 4287 §4.1.1: at most one of each of these in a feed
for my $name (qw(id title subtitle updated author generator)) {
  is(scalar(() = $xpc->findnodes("/a:feed/a:$name", $doc)), 1, "exactly one feed <$name>");
}

# Nothing but what Atom and the page need: every element and attribute is named here.
my %allowed = (feed => [], id => [], title => [], subtitle => [], updated => [], published => [],
               author => [], name => [], generator => ['version'], entry => [], content => ['type'],
               link => [qw(rel type href)]);
my @strange;
for my $el ($xpc->findnodes('//*', $doc)) {
  my $name = $el->localname;
  push @strange, "element $name" unless ($el->namespaceURI // '') eq $ATOM && $allowed{$name};
  for my $attr ($el->attributes) {
    next if $attr->nodeType == XML_NAMESPACE_DECL;
    push @strange, "attribute $name/\@" . $attr->nodeName unless grep { $_ eq $attr->nodeName } @{ $allowed{$name} || [] };
  }
}
is_deeply(\@strange, [], 'no element or attribute beyond the Atom ones the feed needs');

# --- entries: the page's public entries, newest first -------------------------------------------------
my @entries = entries($doc);
is(scalar @entries, scalar @public, 'one entry per public timeline entry');
my @expect = reverse map {
  my $e = $public[$_];
  [ "$page#update-" . ($_ + 1), $words[$_], $e->{created_at}, $e->{created_at},
    defined $e->{body} ? xml_readable($e->{body}) : 'Status changed to Monitoring', 'text', $page ]
} 0 .. $#public;
is_deeply(\@entries, \@expect,
  'entries = the JSON view in reverse: id <page>#update-<n from the oldest>, title the status word, '
  . 'updated = published = created_at, text content (read back exactly), alternate link to the page')
  or diag(explain(\@entries));
is($entries[1][4], xml_readable($hostile), 'the hostile reply reads back exactly: CR LF, tab, markup, ]]>, entities, quotes');
like($r->{content}, qr/&#13;\n/, '... its CR written as &#13; (a literal CR would read as LF)');
like($entries[1][4], qr/\x{FFFD}\x{FFFD} \x{FFFD}\x{FFFD} é/, '... U+0001, U+001F, U+FFFE, U+FFFF as U+FFFD');
like($_->[2], $RFC3339, "entry $_->[0]: updated is RFC 3339 UTC") for @entries;
for my $e ($xpc->findnodes('/a:feed/a:entry', $doc)) {
  my @missing = grep { !$xpc->findnodes("a:$_", $e) } qw(id title updated content);
  is_deeply(\@missing, [], 'entry ' . text1($e, 'a:id') . ' has id, title, updated and content');
}
my %ids = map { $_->[0] => 1 } @entries;
is(scalar keys %ids, scalar @entries, 'entry ids are unique');
is($entries[0][1], 'Monitoring', 'a title is the status word alone ("Monitoring", not "monitoring" nor a prefix)');

# --- the page links this feed -------------------------------------------------------------------------
{
  my $html = public(GET => $page_path, Accept => 'text/html')->{content} // '';
  my ($link) = $html =~ m{(<link\b[^>]*\brel="alternate"[^>]*>)};
  like($link // '', qr{\btype="application/atom\+xml"}, 'the page has <link rel="alternate" type="application/atom+xml">');
  my ($href) = ($link // '') =~ m{\bhref="([^"]+)"};
  is($href, "$page_path/feed.atom", '... whose href is this feed');
  is(public(GET => $href // '/none')->{content}, $r->{content}, '... which answers the same feed');
}

# --- stable ids, ETag, 304 ----------------------------------------------------------------------------
my $again = feed($page_path);
is($again->{content}, $r->{content}, 'a second fetch: the same bytes');
is($again->{headers}{etag}, $etag, '... and the same ETag');

for my $case ([ 'the ETag', $etag ], [ 'the ETag, weakly (W/)', "W/$etag" ], [ 'a list that contains it', qq{"x", $etag} ],
              [ '*', '*' ]) {
  my $nm = feed($page_path, 'If-None-Match' => $case->[1]);
  subtest "If-None-Match: $case->[0] -> 304" => sub {
    is($nm->{status}, 304, 'status 304');
    is($nm->{content} // '', '', 'no body');
    is($nm->{headers}{etag}, $etag, 'the ETag');
    is($nm->{headers}{'cache-control'}, 'private, no-cache', 'Cache-Control kept');
    is($nm->{headers}{'x-robots-tag'}, 'noindex', 'X-Robots-Tag kept');
    ok(!defined $nm->{headers}{'content-type'}, 'no Content-Type');
  };
}
my $other_tag = feed($page_path, 'If-None-Match' => '"' . ('0' x 64) . '"');
ok($other_tag->{status} == 200 && $other_tag->{content} eq $r->{content}, 'If-None-Match with another tag: 200 and the feed');
my $head = public(HEAD => "$page_path/feed.atom");
is($head->{status}, 200, 'HEAD: 200');
is($head->{content} // '', '', 'HEAD: no body');
is($head->{headers}{etag}, $etag, 'HEAD: the same ETag');

is(call(POST => "/v1/tickets/$inc->{id}/replies", { body => 'Fix deployed.' })->{status}, 201, 'a new public update');
is(call(POST => "/v1/tickets/$inc->{id}/replies", { body => "$MARKER again", internal => JSON::PP::true })->{status}, 201,
   'and another internal one');
my $new = feed($page_path);
isnt($new->{headers}{etag}, $etag, 'the ETag changes with the feed');
my $old_304 = feed($page_path, 'If-None-Match' => $etag);
is($old_304->{status}, 200, 'If-None-Match with the old ETag: 200');
my $new_doc = parse_ok($new, 'the feed after an update');
my @now = entries($new_doc);
is(scalar @now, 4, 'four entries now');
is($now[0][0], "$page#update-4", 'the new entry is first, numbered 4');
is($now[0][4], 'Fix deployed.', '... with its text');
is_deeply([map { [$_->[0], $_->[4]] } @now[1 .. 3]], [map { [$_->[0], $_->[4]] } @entries],
          'the older entries keep their ids (and their text)');
unlike($new->{content}, qr/\Q$MARKER\E/, 'still no internal text');
is(page_json($page_path)->{replies}[-1]{body}, 'Fix deployed.', 'the page shows the same newest entry');

# --- a long timeline: the newest 1,000, numbered from the oldest of all ------------------------------
{
  my $long = call(POST => '/v1/tickets', { title => 'Long incident' })->{json};
  my $org = $s->org_id;
  # 1,150 entries, every 10th internal: 1,035 public ones (no API round trip for each)
  $s->psql("INSERT INTO replies (incident_id, org_id, body, internal, status, author, created_at, incident_status) "
         . "SELECT $long->{id}, $org, 'entry ' || g, g % 10 = 0, NULL, 'test', now(), 'open' "
         . "FROM generate_series(1, 1150) g ORDER BY g");
  my $lr = feed("/incidents/status/$long->{customer_token}");
  my $ldoc = parse_ok($lr, 'the long feed');
  my @le = entries($ldoc);
  is(scalar @le, 1000, 'a long timeline: the newest 1,000 entries');
  is($le[0][0], "$long->{customer_status_url}#update-1035", 'the newest is numbered 1,035, counted from the oldest of all');
  is($le[0][4], 'entry 1149', '... and is the newest public entry');
  is($le[-1][0], "$long->{customer_status_url}#update-36", 'the oldest shown is number 36');
  my $lj = page_json("/incidents/status/$long->{customer_token}");
  is_deeply([map { $_->[4] } @le], [reverse map { $_->{body} } @{ $lj->{replies} || [] }],
            'the same entries as the page, in reverse');
}

# --- no display name: the organisation's name ---------------------------------------------------------
{
  my $plain = $s->new_org('feed-plain-' . $$);
  my $pi = $s->req(POST => '/v1/tickets', key => $plain->{keys}{write}, body => { title => 'Quiet' })->{json};
  my $pr = feed("/incidents/status/$pi->{customer_token}");
  my $pdoc = parse_ok($pr, 'a feed without entries');
  is(text1($pdoc, '/a:feed/a:author/a:name'), $plain->{name}, 'without a display name the author is the org name');
  is(scalar(() = $xpc->findnodes('/a:feed/a:entry', $pdoc)), 0, 'an incident without timeline entries: no entry');
  is(text1($pdoc, '/a:feed/a:updated'), $pi->{updated_at}, '... and updated is the incident updated_at');
}

# --- errors -------------------------------------------------------------------------------------------
for my $bad ('/incidents/status/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/feed.atom',
             "/incidents/status/$inc->{customer_token}x/feed.atom", '/incidents/status/a.b/feed.atom') {
  my $e = public(GET => $bad);
  is($e->{status}, 404, "$bad: 404");
  is(($e->{json} || {})->{errors}[0]{code}, 'not_found', '... the error envelope');
}
my $post = public(POST => "$page_path/feed.atom");
is($post->{status}, 405, 'POST: 405');
is($post->{headers}{allow}, 'GET, HEAD', '... Allow: GET, HEAD');
is(call(DELETE => "/v1/tickets/$inc->{id}")->{status}, 204, 'delete the incident');
is(feed($page_path)->{status}, 404, 'a deleted incident has no feed');

$s->finish;
done_testing;
