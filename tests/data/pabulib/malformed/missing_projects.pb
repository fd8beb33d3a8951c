META
key;value
budget;100
vote_type;approval
VOTES
voter_id;vote
1;a
