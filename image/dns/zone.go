package main

// zoneText is the zone the server is authoritative for, in the master
// file format (RFC 1035 section 5). big.kaidoku.test's TXT set is larger
// than 512 bytes, so that it is truncated without EDNS0 and fragmented
// with it.
const zoneText = `$ORIGIN kaidoku.test.
$TTL 300
@       IN SOA  ns hostmaster 2026120401 3600 600 86400 300
@       IN NS   ns
@       IN A    10.0.2.15
ns      IN A    10.0.2.15
www     IN A    192.0.2.10
www     IN AAAA 2001:db8::10
txt     IN TXT  "hello from kaidoku"
alias   IN CNAME www
big     IN TXT  "0000 the quick brown fox jumps over the lazy dog, 0000 the quick brown fox jumps over the lazy dog, 0000 the quick brown fox jumps over the lazy dog"
big     IN TXT  "0001 the quick brown fox jumps over the lazy dog, 0001 the quick brown fox jumps over the lazy dog, 0001 the quick brown fox jumps over the lazy dog"
big     IN TXT  "0002 the quick brown fox jumps over the lazy dog, 0002 the quick brown fox jumps over the lazy dog, 0002 the quick brown fox jumps over the lazy dog"
big     IN TXT  "0003 the quick brown fox jumps over the lazy dog, 0003 the quick brown fox jumps over the lazy dog, 0003 the quick brown fox jumps over the lazy dog"
big     IN TXT  "0004 the quick brown fox jumps over the lazy dog, 0004 the quick brown fox jumps over the lazy dog, 0004 the quick brown fox jumps over the lazy dog"
big     IN TXT  "0005 the quick brown fox jumps over the lazy dog, 0005 the quick brown fox jumps over the lazy dog, 0005 the quick brown fox jumps over the lazy dog"
big     IN TXT  "0006 the quick brown fox jumps over the lazy dog, 0006 the quick brown fox jumps over the lazy dog, 0006 the quick brown fox jumps over the lazy dog"
big     IN TXT  "0007 the quick brown fox jumps over the lazy dog, 0007 the quick brown fox jumps over the lazy dog, 0007 the quick brown fox jumps over the lazy dog"
big     IN TXT  "0008 the quick brown fox jumps over the lazy dog, 0008 the quick brown fox jumps over the lazy dog, 0008 the quick brown fox jumps over the lazy dog"
big     IN TXT  "0009 the quick brown fox jumps over the lazy dog, 0009 the quick brown fox jumps over the lazy dog, 0009 the quick brown fox jumps over the lazy dog"
big     IN TXT  "0010 the quick brown fox jumps over the lazy dog, 0010 the quick brown fox jumps over the lazy dog, 0010 the quick brown fox jumps over the lazy dog"
big     IN TXT  "0011 the quick brown fox jumps over the lazy dog, 0011 the quick brown fox jumps over the lazy dog, 0011 the quick brown fox jumps over the lazy dog"
big     IN TXT  "0012 the quick brown fox jumps over the lazy dog, 0012 the quick brown fox jumps over the lazy dog, 0012 the quick brown fox jumps over the lazy dog"
big     IN TXT  "0013 the quick brown fox jumps over the lazy dog, 0013 the quick brown fox jumps over the lazy dog, 0013 the quick brown fox jumps over the lazy dog"
big     IN TXT  "0014 the quick brown fox jumps over the lazy dog, 0014 the quick brown fox jumps over the lazy dog, 0014 the quick brown fox jumps over the lazy dog"
big     IN TXT  "0015 the quick brown fox jumps over the lazy dog, 0015 the quick brown fox jumps over the lazy dog, 0015 the quick brown fox jumps over the lazy dog"
`
