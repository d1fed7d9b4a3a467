#!/usr/bin/perl
# Allocation-heavy Perl workload with deterministic output (hashes, regexes,
# sorting, string building).  Used by run_real.sh.
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);

my $seed = 12345;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed; }

my @letters = ('a' .. 'z');
my @words;
for my $i (1 .. 20000) {
    my $len = 2 + rnd() % 10;
    push @words, join('', map { $letters[rnd() % 26] } 1 .. $len);
}

# hashes
my %count;
my %pos;
for my $i (0 .. 299_999) {
    my $w = $words[rnd() % @words];
    $count{$w}++;
    push @{ $pos{ substr($w, 0, 2) } }, $i;
}
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 9];
print "hash ", scalar(keys %count), " ", scalar(keys %pos), " @top\n";

# delete half of a hash and rebuild
for my $k (keys %count) { delete $count{$k} if length($k) % 2; }
$count{"k$_"} = $_ for 1 .. 100000;
print "rehash ", scalar(keys %count), "\n";

# regexes over a big string
my $text = join(' ', map { "$words[$_ % @words]=$_" } 0 .. 199_999);
my @m = ($text =~ /\b([a-z]{4})[a-z]*=(\d*7)\b/g);
(my $t2 = $text) =~ s/([aeiou])([a-z])/$2$1/g;
my $n = () = $text =~ /q/g;
print "regex ", scalar(@m), " $n ", md5_hex($t2), "\n";

# sorting: numeric, string, Schwartzian transform
my @nums = map { rnd() % 1000000 } 1 .. 300000;
my @sn = sort { $a <=> $b } @nums;
my @ss = sort @words;
my @st = map { $_->[1] } sort { $a->[0] <=> $b->[0] or $a->[1] cmp $b->[1] } map { [length($_), $_] } @words;
print "sort $sn[0] $sn[-1] $sn[150000] ", md5_hex(join(',', @ss)), " ", md5_hex(join(',', @st)), "\n";

# string building, split/join, sprintf
my $buf = '';
$buf .= sprintf("%05d:%s;", $_, $words[$_ % @words]) for 1 .. 200000;
my @fields = split /;/, $buf;
my %by_len;
push @{ $by_len{ length $_ } }, $_ for @fields;
print "str ", length($buf), " ", scalar(@fields), " ", join(',', map { "$_=" . scalar(@{ $by_len{$_} }) } sort { $a <=> $b } keys %by_len), "\n";

# nested data structures, freed by going out of scope
my $total = 0;
for my $r (1 .. 30) {
    my %tree;
    $tree{ $_ % 100 }{ $_ % 7 }[ $_ % 5 ] .= "x" for 1 .. 20000;
    $total += length($tree{$_}{3}[2] // '') for keys %tree;
}
print "nested $total\n";
