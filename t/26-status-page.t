#!/usr/bin/perl
# The public status page: no key, escaped HTML with strict headers, the JSON
# variant with exactly its keys, only public timeline entries.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use ApiCall;
use IncidentdTest;

my $s = IncidentdTest->new;
my $W = $s->key('write');
my $CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

my $api = ApiCall->new($s, $W);
sub call { my ($method, $path, $body) = @_; return $api->call($method, $path, body => $body) }
sub public { my ($path, %h) = @_; return $api->public(GET => $path, %h) }

my $title = q{<script>alert("x")</script> & 'quotes' — Ünïcode};
my $inc = call(POST => '/v1/tickets', { title => $title, description => 'SECRET-DESCRIPTION', priority => 'urgent',
  location_name => 'SECRET-LOCATION', assigned_to => 'SECRET-ASSIGNEE', impact_description => 'SECRET-IMPACT',
  lat => 1.5, lng => 2.5, source_ref => 'SECRET-REF', tags => ['SECRET-TAG'] })->{json};
my $token = $inc->{customer_token};
my $path = "/incidents/status/$token";
is(call(PATCH => "/v1/tickets/$inc->{id}", { status => 'investigating', message => 'We are <b>on it</b>.' })->{status}, 200, 'timeline entry');
is(call(POST => "/v1/tickets/$inc->{id}/replies", { body => 'SECRET-INTERNAL-NOTE', internal => JSON::PP::true })->{status}, 201, 'internal reply');
is(call(POST => "/v1/tickets/$inc->{id}/replies", { body => 'Public update & more.' })->{status}, 201, 'public reply');
is(call(PATCH => "/v1/tickets/$inc->{id}", { priority => 'low' })->{status}, 200, 'a change without timeline entry');

# --- HTML ----------------------------------------------------------------------------------------------
my $h = public($path, Accept => 'text/html');
is($h->{status}, 200, 'HTML page 200 without a key');
like($h->{headers}{'content-type'} // '', qr{^text/html(;|$)}, 'Content-Type text/html');
is($h->{headers}{'cache-control'}, 'no-store', 'Cache-Control: no-store');
is($h->{headers}{'content-security-policy'}, $CSP, 'the exact CSP of DESIGN §6');
is($h->{headers}{'x-content-type-options'}, 'nosniff', 'X-Content-Type-Options: nosniff');
is($h->{headers}{'referrer-policy'}, 'no-referrer', 'Referrer-Policy: no-referrer');
my $html = $h->{text};
unlike($html, qr/<script>alert/, 'the title is not injected as markup');
like($html, qr/&lt;script&gt;alert\((&quot;|&#34;|&#x22;|")x(&quot;|&#34;|&#x22;|")\)&lt;\/script&gt; &amp; (&#39;|&#x27;|&apos;|')quotes(&#39;|&#x27;|&apos;|') — Ünïcode/,
     'the title is shown, HTML-escaped');
like($html, qr/We are &lt;b&gt;on it&lt;\/b&gt;\./, 'public timeline message shown escaped');
like($html, qr/Public update &amp; more\./, 'public reply shown escaped');
like($html, qr/investigating/i, 'the status is shown');
unlike($html, qr/SECRET-/, 'no description, location, assignee, impact, tags, source_ref or internal reply');
unlike($html, qr/<script(?![^>]*\bsrc=)[^>]*>/i, 'no inline script');
unlike($html, qr/<style|\sstyle=|\son[a-z]+=/i, 'no inline style or event handler attribute');
my ($css) = $html =~ m{<link[^>]+href="([^"]+\.css)"};
if (defined $css) {
  my $c = public($css =~ m{^/} ? $css : "/incidents/$css");
  is($c->{status}, 200, "stylesheet $css served");
  like($c->{headers}{'content-type'} // '', qr{^text/css}, 'stylesheet is text/css');
} else {
  fail('the page links its stylesheet');
}
my $d = public($path);
is($d->{status}, 200, 'no Accept header: 200');
like($d->{headers}{'content-type'} // '', qr{^text/html}, 'no Accept header: HTML');

# --- JSON ----------------------------------------------------------------------------------------------
my $j = public($path, Accept => 'application/json');
is($j->{status}, 200, 'JSON 200 without a key');
like($j->{headers}{'content-type'} // '', qr{^application/json}, 'Content-Type application/json');
is($j->{headers}{'cache-control'}, 'no-store', 'JSON also no-store');
my $doc = $j->{json} || {};
is_deeply([sort keys %$doc], [qw(replies status title updated_at)], 'exactly title, status, updated_at, replies');
is($doc->{title}, $title, 'title as stored (JSON needs no HTML escaping)');
is($doc->{status}, 'investigating', 'status');
my $now = call(GET => "/v1/tickets/$inc->{id}")->{json};
is($doc->{updated_at}, $now->{updated_at}, 'updated_at of the incident');
is_deeply([map { [sort keys %$_] } @{ $doc->{replies} || [] }], [map { [qw(body created_at status)] } 1 .. 2],
          'replies carry exactly body, status, created_at');
is_deeply([map { [$_->{status}, $_->{body}] } @{ $doc->{replies} || [] }],
          [['investigating', 'We are <b>on it</b>.'], [undef, 'Public update & more.']],
          'only public entries, oldest first; the internal reply is absent');
unlike($j->{content}, qr/SECRET-|\Q$W\E|"id"|"author"|"internal"/, 'nothing private in the JSON');
my $both = public($path, Accept => 'text/html;q=0.9, application/json');
like($both->{headers}{'content-type'} // '', qr{^application/json}, 'an Accept that contains application/json gets JSON');

# The page follows changes.
call(PATCH => "/v1/tickets/$inc->{id}", { status => 'resolved' });
my $after = public($path, Accept => 'application/json')->{json} || {};
is($after->{status}, 'resolved', 'status change visible');
is(scalar @{ $after->{replies} || [] }, 3, 'the status change without message adds a public entry');
is_deeply([@{ $after->{replies}[-1] || {} }{qw(status body)}], ['resolved', undef], '... with body null');

# --- unknown, malformed and deleted tokens ------------------------------------------------------------
for my $bad ('/incidents/status/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '/incidents/status/' . substr($token, 0, -1),
             '/incidents/status/' . $token . 'x', '/incidents/status/..%2F..%2Fetc%2Fpasswd', '/incidents/status/a.b') {
  for my $accept ('application/json', 'text/html') {
    my $r = public($bad, Accept => $accept);
    is($r->{status}, 404, "$bad ($accept): 404");
    is(($r->{json} || {})->{errors}[0]{code}, 'not_found', '... the error envelope');
  }
}
my $other = $s->new_org('status-b-' . $$);
my $oi = $s->req(POST => '/v1/tickets', key => $other->{keys}{write}, body => { title => 'B page' })->{json};
is(public("/incidents/status/$oi->{customer_token}", Accept => 'application/json')->{json}{title}, 'B page',
   "any organisation's token works without a key");
is(call(DELETE => "/v1/tickets/$inc->{id}")->{status}, 204, 'delete the incident');
is(public($path, Accept => 'application/json')->{status}, 404, 'a deleted incident has no page');


subtest 'the page follows its public stream with a script file' => sub {
  my $token = call(POST => '/v1/tickets', { title => 'Live page' })->{json}{customer_token};
  my $r = public("/incidents/status/$token");
  my $html = $r->{text};
  like $html, qr{<script src="/incidents/status\.js" defer></script>}, 'script is a file, not inline';
  unlike $html, qr{<script>(?!alert)}, 'no inline script element';
  like $html, qr{data-stream="/incidents/status/\Q$token\E/stream"}, 'names its public stream';
  my ($seq) = $html =~ /data-seq="(\d+)"/;
  my $org = $s->org_id;
  chomp(my $current = $s->psql("SELECT event_seq FROM orgs WHERE id = $org"));
  is $seq, $current, 'data-seq is the org event seq the page was rendered at';
  my $js = public('/incidents/status.js');
  is $js->{status}, 200, 'status.js served';
  like $js->{headers}{'content-type'}, qr{^text/javascript}, 'as JavaScript';
  like $js->{content}, qr/new EventSource\(/, 'it opens an EventSource';
  like $js->{content}, qr/last_event_id=/, 'from the seq the page was rendered at';
  unlike $js->{content}, qr/innerHTML/, 'and never parses event text as HTML';
};

subtest 'the page as customers read it' => sub {
  my $t = call(POST => '/v1/tickets', { title => 'Readable page' })->{json};
  my $page = "/incidents/status/$t->{customer_token}";
  call(PATCH => "/v1/tickets/$t->{id}", { status => 'in_progress', message => 'first' });
  call(POST => "/v1/tickets/$t->{id}/replies", { body => 'SECRET-INTERNAL', internal => JSON::PP::true });
  call(PATCH => "/v1/tickets/$t->{id}", { status => 'monitoring', message => 'second' });
  call(POST => "/v1/tickets/$t->{id}/replies", { body => 'third' });
  my $r = public($page);
  my $html = $r->{text};
  is $r->{headers}{'x-robots-tag'}, 'noindex', 'X-Robots-Tag: noindex (the token is a secret)';
  like $html, qr{<html lang="en">}, 'the language is declared';
  is scalar(() = $html =~ /<h1\b/g), 1, 'exactly one h1';
  like $html, qr{<meta name="robots" content="noindex, nofollow">}, 'robots meta: noindex';
  like $html, qr{<link rel="icon" href="/incidents/favicon\.svg" type="image/svg\+xml">}, 'an icon link';
  like $html, qr{<link rel="alternate" type="application/atom\+xml" [^>]*href="\Q$page\E/feed\.atom">},
       'the Atom feed is linked';
  like $html, qr{<span id="status" class="status" data-status="monitoring">Monitoring</span>},
       'the state is a badge with its word';
  my $now = call(GET => "/v1/tickets/$t->{id}")->{json};
  my ($y, $mo, $d, $h, $mi) = $now->{updated_at} =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)/;
  my $mon = (qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec))[$mo - 1];
  like $html, qr{<time id="updated" datetime="\Q$now->{updated_at}\E">$d $mon $y, $h:$mi UTC</time>},
       'updated_at in a <time> element, readable in UTC without a script';
  my @entries = $html =~ m{<li id="update-\d+" data-status="([a-z_]+)"><p class="meta"><span class="status" data-status="\1">([^<]+)</span> <time datetime="[^"]+Z">[^<]+</time> <span class="ago"></span></p><p class="body">([^<]*)</p></li>}g;
  is_deeply \@entries, [monitoring => 'Monitoring', 'third', monitoring => 'Monitoring', 'second',
                        in_progress => 'In progress', 'first'],
            'public updates newest first, each with the status word of its time';
  is_deeply [$html =~ /<li id="update-(\d+)"/g], [3, 2, 1], "each is #update-<n>, n counted from the oldest (the feed's entry ids)";
  like $html, qr{<p id="resolved-banner" class="banner" hidden>This incident has been resolved</p>},
       'no resolved banner while active';
  like $html, qr{<p id="no-updates" class="empty" hidden>}, 'no "No updates yet." when there are updates';
  my ($words) = $html =~ /data-words="([^"]+)"/;
  $words =~ s/&quot;/"/g;
  my $map = eval { JSON::PP->new->decode($words) } || {};
  is $map->{in_progress}, 'In progress', 'the script gets the server\'s status words';
  is scalar(keys %$map), 10, '... for every status';
  like $html, qr{data-resolved="resolved postmortem closed"}, '... and which statuses are resolved';
  call(PATCH => "/v1/tickets/$t->{id}", { status => 'resolved' });
  like public($page)->{text}, qr{<p id="resolved-banner" class="banner">This incident has been resolved</p>},
       'a resolved incident says so in a banner';
  my $fresh = call(POST => '/v1/tickets', { title => 'No updates' })->{json};
  like public("/incidents/status/$fresh->{customer_token}")->{text}, qr{<p id="no-updates" class="empty">No updates yet\.</p>},
       'an incident without public updates says so';

  my $icon = public('/incidents/favicon.svg');
  is $icon->{status}, 200, 'the icon is served';
  is $icon->{headers}{'content-type'}, 'image/svg+xml', '... as SVG';
  is $icon->{headers}{'x-content-type-options'}, 'nosniff', '... never sniffed';
  like $icon->{content}, qr{^<svg xmlns="http://www\.w3\.org/2000/svg"}, '... an SVG document';
  my $css = public('/incidents/status.css')->{content};
  like $css, qr/prefers-color-scheme: dark/, 'the stylesheet has a dark scheme';
  like $css, qr/\@media print/, '... and a print stylesheet';
};

subtest "the header shows the organisation's display name" => sub {
  my $t = call(POST => '/v1/tickets', { title => 'Named' })->{json};
  my $page = "/incidents/status/$t->{customer_token}";
  my $org = $s->org_id;
  like public($page)->{text}, qr{<p id="org" class="org">\Q${\ $s->org_name }\E</p>}, "the org's name when it has no display name";
  $s->psql(qq{UPDATE orgs SET display_name = 'Acme <b>"Cloud"</b> & Co' WHERE id = $org});
  my $html = public($page)->{text};
  like $html, qr{<p id="org" class="org">Acme &lt;b&gt;&quot;Cloud&quot;&lt;/b&gt; &amp; Co</p>}, 'the display name, escaped';
  like $html, qr{<title>Named \x{2014} Acme &lt;b&gt;&quot;Cloud&quot;&lt;/b&gt; &amp; Co</title>}, '... in the title too';
  unlike public($page, Accept => 'application/json')->{content}, qr/Acme/, 'the JSON view keeps exactly its members';
  $s->psql("UPDATE orgs SET display_name = NULL WHERE id = $org");
};

subtest 'a long incident shows its newest 1,000 updates' => sub {
  my $t = call(POST => '/v1/tickets', { title => 'Long' })->{json};
  my $page = "/incidents/status/$t->{customer_token}";
  $s->psql("INSERT INTO replies (incident_id, org_id, body, internal, status, author, created_at, incident_status) "
         . "SELECT $t->{id}, org_id, 'update ' || n, false, NULL, 'test', now(), status "
         . "FROM incidents, generate_series(1, 1001) AS n WHERE id = $t->{id}");
  my $doc = public($page, Accept => 'application/json')->{json} || {};
  is scalar @{ $doc->{replies} || [] }, 1000, '1,000 entries';
  is $doc->{replies}[-1]{body}, 'update 1001', 'the newest is there, last (JSON is oldest first)';
  is $doc->{replies}[0]{body}, 'update 2', 'the oldest one is the one left out';
  my ($first) = public($page)->{text} =~ m{<p class="body">([^<]*)</p>};
  is $first, 'update 1001', 'the HTML shows the newest first';
  my @ids = public($page)->{text} =~ /<li id="update-(\d+)"/g;
  is_deeply [@ids[0, -1]], [1001, 2], '... numbered from the oldest, the ones left out counted';
};

$s->finish;
done_testing;
