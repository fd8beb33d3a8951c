META
key;value
description;Synthetic election with decimal costs in zloty (test fixture)
country;Poland
unit;Testowo
instance;2024
num_projects;4
num_votes;2
budget;4000.75
vote_type;approval
rule;greedy
currency;PLN
PROJECTS
project_id;cost;votes;name
d1;1500.5;2;Grosze
d2;2000.25;1;Grosze bis
d3;999;1;Whole
d4;3000.0;1;Written with a zero decimal
VOTES
voter_id;vote
w1;d1,d2,d3
w2;d1,d4
