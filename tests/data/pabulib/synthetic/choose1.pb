META
key;value
description;Synthetic choose-1 election with one blank ballot (test fixture)
country;Testland
unit;Testville
instance;2024
num_projects;3
num_votes;5
budget;5
vote_type;choose-1
rule;greedy
currency;EUR
PROJECTS
project_id;cost;votes;name
k1;3;2;Kay one
k2;2;1;Kay two
k3;2;1;Kay three
VOTES
voter_id;vote
c1;k1
c2;k2
c3;k1
c4;k3
c5;
