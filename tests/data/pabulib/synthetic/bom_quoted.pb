META
key;value
description;"Synthetic; file with a BOM, CRLF and quoted fields (test fixture)"
country;Testland
unit;Testville
instance;2024
num_projects;3
num_votes;2
budget;100
vote_type;approval
rule;greedy
currency;EUR
PROJECTS
project_id;cost;votes;name
q1;10;2;"Park ""Stok"" pod Baranem"
q2;20;1;"Semi; colon"
q3;30;1;"Unquoted" start is kept as written
VOTES
voter_id; vote
1; "q1,q2"
2; q1, q3
